"""Training-step throughput and peak memory: eager reference vs default path vs matmul floor.

    python -m inr_bench.perf.throughput --size 256 --out throughput.json

For each model (a model config's name: `--models spder,siren`, built by nn/build.py exactly as
training builds it, with `--override KEY=VALUE` applied; SPDER: sin(u) sqrt(|u|), SIREN: sin(u),
u = w0 (W h + b), 7 linear layers of width 256) one full-batch float32 step of the model's own
optimiser on a size x size image, through the one fitting step (fitting/step.py), is timed in
three variants:

- eager:   the same network with the fused kernels off (INR_BENCH_FUSED=0): the reference
           code's formulation, `torch.sin(u) * delta(u)` one operation at a time,
           differentiated by autograd;
- default: the project's default path (fused activation + linear layers);
- floor:   the same linear layers with no activation at all: the matrix products, the loss and
           the optimiser, i.e. what any activation costs on top of nothing.

Every variant runs in its own fresh Python process, so compilation caches, allocator state and
peak memory of one cannot leak into another. Each worker first compiles on a small batch
(forward and backward; the fused kernels have dynamic sizes), then runs `--warmup` untimed
full steps. Then the timed steps run interleaved, one step of each variant per round, so that a
change in machine load during the run (a shared machine) hits all variants alike; the figure is
the median over rounds. Also recorded per variant: process CPU time and minor page faults per
step.

Peak memory is the peak over all full-size steps of what the process holds above its state
after compilation (model, Adam state, data). On CPU: the resident set's high-water mark
(VmHWM, reset through /proc/self/clear_refs) minus the resident set at that point, with glibc
told to return every allocation >= 1 MiB to the system on free, so that the resident set
follows live allocations. On CUDA: torch.cuda.max_memory_allocated() minus memory_allocated().

On this kind of VM first-touching fresh memory is expensive (2-3.5 us per 4 KiB page), and the
eager formulation allocates about 7 GB of fresh temporaries per SPDER step; the default path
allocates no more than the floor does (see nn/fused_linear.py and docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ("eager", "default", "floor")
# Targets of the throughput issue (2-core CPU, 256x256, width 256, 7 layers, float32).
TARGETS = {"speedup_vs_eager": 3.0, "ratio_to_floor": 1.25, "memory_ratio": 0.5}


# ----------------------------------------------------------------------------- worker side
_M_MMAP_THRESHOLD = -3  # mallopt parameter number (malloc.h)


def _mallopt(*settings: tuple[int, int]) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return all(bool(libc.mallopt(param, value)) for param, value in settings)
    except (OSError, AttributeError):
        return False


def _glibc_return_large_frees(threshold: int = 1 << 20) -> bool:
    """glibc mmaps every allocation >= threshold, so frees return it to the OS at once and the
    resident set follows live allocations (glibc does this for >= 32 MiB anyway)."""
    return _mallopt((_M_MMAP_THRESHOLD, threshold))


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _build(model: str, variant: str, overrides: list[str]):
    """The network and optimiser of model config `model` (with `overrides`), 2-D in, 1 value out;
    for the floor, its activations are replaced by the identity (same layers, same init)."""
    from inr_bench.config import compose_config
    from inr_bench.nn.activations import CoordinateActivation
    from inr_bench.nn.build import build_network, build_optimizer

    cfg = compose_config([f"model={model}", *overrides])
    net = build_network(cfg.model, 2, 1)
    if variant == "floor":

        class NoActivation(CoordinateActivation):
            def forward(self, z):
                return z

        for index in range(len(net.activations)):
            net.activations[index] = NoActivation()
    return net, (lambda parameters: build_optimizer(cfg.model, parameters))


class Variant:
    """One variant set up in this process: model, data, optimiser, warm-up done on demand."""

    def __init__(
        self,
        model: str,
        variant: str,
        size: int,
        device: str,
        overrides: list[str],
    ) -> None:
        self.on_cpu = device == "cpu"
        if self.on_cpu:
            _glibc_return_large_frees()
        import torch

        self.torch = torch
        torch.manual_seed(0)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        side = torch.linspace(-1.0, 1.0, size)
        coords = torch.stack(torch.meshgrid(side, side, indexing="ij"), dim=-1).reshape(-1, 2)
        # A smooth synthetic target in [-1, 1]: the data do not change the cost of a step.
        target = (torch.sin(5.0 * coords[:, :1]) * torch.cos(3.0 * coords[:, 1:])).contiguous()
        self.coords, self.target = coords.to(device), target.to(device)
        net, optimizer = _build(model, variant, overrides)
        self.net = net.to(device)
        self.width = max(layer.out_features for layer in self.net.linears)
        from inr_bench.fitting.step import FitStep

        self.step = FitStep(self.net, optimizer(self.net.parameters()), keep_predictions=False)
        self.losses: list[float] = []

    def _sync(self) -> None:
        if not self.on_cpu:
            self.torch.cuda.synchronize()

    def _step(self) -> None:
        self.losses.append(float(self.step(self.coords, self.target).losses[0]))

    def warmup(self, steps: int) -> list[float]:
        """Compile on a small batch, reset the peak-memory counters, then run untimed full steps.

        The fused kernels have dynamic sizes, so a batch just big enough to take the fused path
        compiles everything; compilation's own memory then stays out of the peak, which covers
        every full-size step from here on (the first of them makes the default path's scratch
        buffer, which is counted)."""
        import gc

        from inr_bench.nn.fused import min_fused_numel

        rows = min(len(self.coords), max(1, -(-min_fused_numel() // self.width)))
        start = time.perf_counter()
        loss = self.torch.nn.functional.mse_loss(self.net(self.coords[:rows]), self.target[:rows])
        loss.backward()
        self.step.optimizer.zero_grad(set_to_none=True)
        self._sync()
        times = [time.perf_counter() - start]
        del loss
        gc.collect()
        if self.on_cpu:
            self.memory_method = "VmHWM - VmRSS"
            if not _reset_peak_rss():  # the high-water mark then includes compilation
                self.memory_method = "ru_maxrss - VmRSS (includes compilation)"
            self.base_kb = _proc_status_kb("VmRSS") or 0
        else:
            self.memory_method = "cuda max_memory_allocated - memory_allocated"
            self.torch.cuda.reset_peak_memory_stats()
            self.base_bytes = self.torch.cuda.memory_allocated()
        for _ in range(max(steps, 1)):
            start = time.perf_counter()
            self._step()
            self._sync()
            times.append(time.perf_counter() - start)
        return times

    def timed_step(self) -> dict:
        import resource

        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        self._sync()
        start, cpu_start = time.perf_counter(), time.process_time()
        self._step()
        self._sync()
        return {
            "step_s": time.perf_counter() - start,
            "cpu_s": time.process_time() - cpu_start,
            "page_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
        }

    def peak_mb(self) -> float:
        if not self.on_cpu:
            return (self.torch.cuda.max_memory_allocated() - self.base_bytes) / 2**20
        if self.memory_method.startswith("VmHWM"):
            peak_kb = _proc_status_kb("VmHWM") or 0
        else:
            import resource

            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(peak_kb - self.base_kb, 0) / 1024.0


def serve(args: argparse.Namespace) -> None:
    """Worker process: set up one variant, warm up, then obey 'step' / 'finish' lines on stdin."""
    model, variant = args.worker.split(":")
    runner = Variant(model, variant, args.size, args.device, model_overrides(args))
    reply = {"warmup_s": runner.warmup(args.warmup), "threads": runner.torch.get_num_threads()}
    print(json.dumps(reply), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "step":
            print(json.dumps(runner.timed_step()), flush=True)
        elif command == "finish":
            print(
                json.dumps(
                    {
                        "peak_mb": runner.peak_mb(),
                        "memory_method": runner.memory_method,
                        "final_loss": runner.losses[-1],
                    }
                ),
                flush=True,
            )
            return


# ----------------------------------------------------------------------------- driver side
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine(device: str) -> dict:
    import torch

    info = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        if hasattr(os, "sysconf")
        else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


class _Worker:
    """A variant in its own fresh Python process, driven one step at a time."""

    def __init__(self, args: argparse.Namespace, model: str, variant: str) -> None:
        self.model, self.variant = model, variant
        command = [
            sys.executable,
            "-m",
            "inr_bench.perf.throughput",
            "--worker",
            f"{model}:{variant}",
            "--size",
            str(args.size),
            "--warmup",
            str(args.warmup),
            "--device",
            args.device,
            *[f"--override={override}" for override in model_overrides(args)],
        ]
        # The eager variant is the same network with the fused kernels off.
        env = {**os.environ, "INR_BENCH_FUSED": "0"} if variant == "eager" else None
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.ready: dict = {}
        self.steps: list[dict] = []

    def wait_ready(self) -> None:
        """Until the worker's set-up and warm-up (compilation) have finished."""
        self.ready = self._reply()

    def _reply(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise RuntimeError(
                f"{self.model}/{self.variant}: worker exited with code "
                f"{self.process.returncode} (see its error output above)"
            )
        return json.loads(line)

    def step(self) -> None:
        self.process.stdin.write("step\n")
        self.process.stdin.flush()
        self.steps.append(self._reply())

    def finish(self) -> dict:
        self.process.stdin.write("finish\n")
        self.process.stdin.flush()
        final = self._reply()
        self.process.wait()
        times = [s["step_s"] for s in self.steps]
        return {
            "step_s": statistics.median(times),
            "step_times_s": times,
            "cpu_step_s": statistics.median(s["cpu_s"] for s in self.steps),
            "page_faults_per_step": statistics.median(s["page_faults"] for s in self.steps),
            "warmup_s": self.ready["warmup_s"],
            "threads": self.ready["threads"],
            **final,
        }

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()


def run_all(args: argparse.Namespace) -> dict[str, dict[str, dict]]:
    """Set up every (model, variant) worker (all at once), then time their steps interleaved, round by round,
    so that a change of machine load during the run hits all variants alike."""
    workers: list[_Worker] = []
    try:
        # All workers start at once: their imports and compilation overlap (untimed).
        for model in args.models:
            for variant in VARIANTS:
                print(
                    f"setting up {model} / {variant} (warm-up, compilation) ...", file=sys.stderr, flush=True
                )
                workers.append(_Worker(args, model, variant))
        for worker in workers:
            worker.wait_ready()
        for round_index in range(args.steps):
            print(f"timed round {round_index + 1}/{args.steps}", file=sys.stderr, flush=True)
            order = workers if round_index % 2 == 0 else workers[::-1]
            for worker in order:
                worker.step()
        runs: dict[str, dict[str, dict]] = {}
        for worker in workers:
            runs.setdefault(worker.model, {})[worker.variant] = worker.finish()
        return runs
    finally:
        for worker in workers:
            worker.kill()


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def summarise(runs: dict[str, dict[str, dict]]) -> dict[str, dict]:
    summary = {}
    for model, by_variant in runs.items():
        eager, default, floor = (by_variant[v] for v in VARIANTS)
        summary[model] = {
            "eager_step_s": eager["step_s"],
            "default_step_s": default["step_s"],
            "floor_step_s": floor["step_s"],
            "eager_peak_mb": eager["peak_mb"],
            "default_peak_mb": default["peak_mb"],
            "floor_peak_mb": floor["peak_mb"],
            "speedup_vs_eager": eager["step_s"] / default["step_s"],
            # The most any path could gain over eager without beating the floor.
            "eager_over_floor": eager["step_s"] / floor["step_s"],
            "ratio_to_floor": default["step_s"] / floor["step_s"],
            "memory_ratio": _ratio(default["peak_mb"], eager["peak_mb"]),
            # The bare layers keep their inputs too; a path that saves no more than they do
            # cannot go below this without recomputing layers (checkpointing).
            "floor_memory_ratio": _ratio(floor["peak_mb"], eager["peak_mb"]),
            # Diagnostics: process CPU time per step (all threads) and minor page faults per step.
            "details": {
                v: {
                    k: by_variant[v][k]
                    for k in ("step_times_s", "cpu_step_s", "page_faults_per_step", "warmup_s", "final_loss")
                }
                for v in VARIANTS
            },
        }
    return summary


def print_table(summary: dict[str, dict], machine: dict, size: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Training step, {size}x{size} full batch, float32 - {machine['cpu']}, "
        f"{machine['torch_threads']} threads, {machine['device']}",
        caption="median step time (s) and peak memory (MB) above the model's own; targets: speedup "
        f">= {TARGETS['speedup_vs_eager']}, default/floor <= {TARGETS['ratio_to_floor']}, "
        f"memory ratio <= {TARGETS['memory_ratio']}; eager/floor bounds the speedup a path at the "
        "floor gets, floor MB / eager MB the memory ratio it gets (a target beyond them is out of "
        "reach: 'n/a')",
    )
    for column in (
        "model",
        "eager s",
        "default s",
        "floor s",
        "eager MB",
        "default MB",
        "floor MB",
        "speedup",
        "eager/floor",
        "default/floor",
        "memory ratio",
    ):
        table.add_column(column, justify="right")

    def mark(value: float, target: float, at_least: bool, bound: float | None = None) -> str:
        """'ok' or 'MISSED'; 'n/a' when even the floor's `bound` misses the target."""
        meets = (lambda x: x >= target) if at_least else (lambda x: x <= target)
        verdict = "n/a" if bound is not None and not meets(bound) else ("ok" if meets(value) else "MISSED")
        return f"{value:.2f} {verdict}"

    for model, row in summary.items():
        table.add_row(
            model,
            f"{row['eager_step_s']:.3f}",
            f"{row['default_step_s']:.3f}",
            f"{row['floor_step_s']:.3f}",
            f"{row['eager_peak_mb']:.0f}",
            f"{row['default_peak_mb']:.0f}",
            f"{row['floor_peak_mb']:.0f}",
            mark(row["speedup_vs_eager"], TARGETS["speedup_vs_eager"], True, row["eager_over_floor"]),
            f"{row['eager_over_floor']:.2f}",
            mark(row["ratio_to_floor"], TARGETS["ratio_to_floor"], False),
            mark(row["memory_ratio"], TARGETS["memory_ratio"], False, row["floor_memory_ratio"]),
        )
    Console(width=max(Console().width, 140)).print(table)


def model_overrides(args: argparse.Namespace) -> list[str]:
    """The config overrides every model of the benchmark gets."""
    shortcuts = [
        f"model.net.{key}={value}"
        for key, value in (("width", args.width), ("hidden_layers", args.hidden_layers))
        if value is not None
    ]
    return [*shortcuts, *args.override]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m inr_bench.perf.throughput",
        description="Median training-step time and peak memory: eager reference, default (fused) "
        "path and the matrix-product floor, for SPDER and SIREN.",
    )
    parser.add_argument("--size", type=int, default=256, help="image side; full batch of size^2 pixels")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant (median reported)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed full steps after compiling on a small batch"
    )
    parser.add_argument(
        "--models", default="spder,siren", help="comma-separated model config names (coordinate MLPs)"
    )
    parser.add_argument("--width", type=int, default=None, help="model.net.width (default: the model's)")
    parser.add_argument(
        "--hidden-layers", type=int, default=None, help="model.net.hidden_layers (default: the model's)"
    )
    parser.add_argument(
        "--override", action="append", default=[], help="a config override for every model, e.g. delta=log"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not args.worker:
        from inr_bench.config import group_options

        unknown = [m for m in models if m not in group_options("model")]
        if unknown or not models:
            parser.error(f"--models: unknown {unknown}; choose from {', '.join(group_options('model'))}")
    if args.steps < 1 or args.size < 2:
        parser.error("--steps must be >= 1 and --size >= 2")
    args.models = models
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        serve(args)
        return {}

    machine = describe_machine(args.device)
    runs = run_all(args)
    if hasattr(os, "getloadavg"):
        machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summary = summarise(runs)
    print_table(summary, machine, args.size)
    if args.out is not None:
        document = dict(summary)
        document["machine"] = machine
        machine["benchmark"] = {
            "size": args.size,
            "steps": args.steps,
            "warmup": args.warmup,
            "overrides": model_overrides(args),
            "dtype": "float32",
            "optimizer": "each model's own (model.optimizer)",
            "step": "inr_bench.fitting.step.FitStep",
            "fused_env": os.environ.get("INR_BENCH_FUSED", "1"),
            "allocator": "glibc, allocations >= 1 MiB mmapped (returned to the system on free)",
            "thp_mem_alloc_env": os.environ.get("THP_MEM_ALLOC_ENABLE", ""),
            "memory_method": runs[args.models[0]]["eager"]["memory_method"],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
    return summary


if __name__ == "__main__":
    main()
