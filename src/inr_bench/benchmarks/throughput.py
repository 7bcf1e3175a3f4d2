"""Training-step throughput and peak memory: eager reference vs default path vs matmul floor.

    python -m inr_bench.benchmarks.throughput --size 256 --out throughput.json

For each model (SPDER: sin(u) sqrt(|u|); SIREN: sin(u); u = w0 (W h + b), 7 linear layers of
width 256) one full-batch float32 Adam step on a size x size image is timed in three variants:

- eager:   the straightforward formulation of the reference code, written out here on its
           own (nn.Linear layers, `torch.sin(u) * torch.sqrt(torch.clamp(torch.abs(u), eps))`),
           differentiated by autograd;
- default: the project's default path, `CoordinateMLP` with `DampedSine` (fused kernels);
- floor:   the same linear layers with no activation at all: the matrix products, the loss and
           Adam, i.e. what any activation costs on top of nothing.

Every variant runs in its own fresh Python process, so compilation caches, allocator state and
peak memory of one cannot leak into another. Warm-up steps (which include compilation) are not
timed; the figure is the median of the timed steps. Peak memory is the peak allocation during
the timed steps above what was already held before them (model, Adam state, data):
on CPU the resident set's high-water mark (VmHWM, reset via /proc/self/clear_refs) minus the
resident set before the timed steps, with glibc told to return every allocation >= 1 MiB to the
system on free so that the resident set follows live allocations; on CUDA
torch.cuda.max_memory_allocated() minus memory_allocated() before the timed steps.
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

MODELS = ("spder", "siren")
VARIANTS = ("eager", "default", "floor")
# Targets of the throughput issue (2-core CPU, 256x256, width 256, 7 layers, float32).
TARGETS = {"speedup_vs_eager": 3.0, "ratio_to_floor": 1.25, "memory_ratio": 0.5}


# ----------------------------------------------------------------------------- worker side
def _glibc_return_large_frees(threshold: int = 1 << 20) -> bool:
    """Make glibc mmap (and so return to the OS on free) every allocation >= threshold."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_mmap_threshold = -3
        return bool(libc.mallopt(m_mmap_threshold, threshold))
    except (OSError, AttributeError):
        return False


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


def _build(model: str, variant: str, width: int, hidden_layers: int, w0: float):
    import torch
    from torch import nn

    from inr_bench.nn.activations import CoordinateActivation, DampedSine
    from inr_bench.nn.damping import safe_eps
    from inr_bench.nn.mlp import CoordinateMLP

    if variant == "default":
        damping = "sqrt" if model == "spder" else "one"
        return CoordinateMLP(2, 1, lambda: DampedSine(w0=w0, damping=damping), width, hidden_layers)

    if variant == "floor":

        class NoActivation(CoordinateActivation):
            def forward(self, z: torch.Tensor) -> torch.Tensor:
                return z

        net = CoordinateMLP(2, 1, NoActivation, width, hidden_layers)
        # Same weight scale as the real models, so the values stay finite.
        reference = DampedSine(w0=w0)
        for index, layer in enumerate(net.linears):
            reference.init_linear(layer, is_first=index == 0)
        reference.init_head(net.head)
        return net

    # The eager formulation, as the reference code writes it: one module per layer.
    eps = safe_eps(torch.float32)
    damped = model == "spder"

    class ReferenceLayer(nn.Module):
        def __init__(self, in_features: int, out_features: int, is_first: bool) -> None:
            super().__init__()
            self.linear = nn.Linear(in_features, out_features)
            bound = 1.0 / in_features if is_first else (6.0 / in_features) ** 0.5 / w0
            with torch.no_grad():
                self.linear.weight.uniform_(-bound, bound)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            u = w0 * self.linear(x)
            if damped:
                return torch.sin(u) * torch.sqrt(torch.clamp(torch.abs(u), min=eps))
            return torch.sin(u)

    layers = [ReferenceLayer(2, width, True)]
    layers += [ReferenceLayer(width, width, False) for _ in range(hidden_layers)]
    head = nn.Linear(width, 1)
    with torch.no_grad():
        bound = (6.0 / width) ** 0.5 / w0
        head.weight.uniform_(-bound, bound)
    return nn.Sequential(*layers, head)


def run_variant(model: str, variant: str, size: int, steps: int, warmup: int, device: str,
                width: int, hidden_layers: int, w0: float = 30.0) -> dict:
    """Time `steps` full-batch Adam steps of one variant in this process; return its figures."""
    on_cpu = device == "cpu"
    if on_cpu:
        _glibc_return_large_frees()
    import torch

    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    side = torch.linspace(-1.0, 1.0, size)
    coords = torch.stack(torch.meshgrid(side, side, indexing="ij"), dim=-1).reshape(-1, 2)
    # A smooth synthetic target in [-1, 1]: the data do not change the cost of a step.
    target = (torch.sin(5.0 * coords[:, :1]) * torch.cos(3.0 * coords[:, 1:])).contiguous()
    coords, target = coords.to(device), target.to(device)
    net = _build(model, variant, width, hidden_layers, w0).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)

    def sync() -> None:
        if not on_cpu:
            torch.cuda.synchronize()

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(net(coords), target)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    warmup_times, losses = [], []
    for _ in range(max(warmup, 1)):
        start = time.perf_counter()
        losses.append(step())
        sync()
        warmup_times.append(time.perf_counter() - start)

    import gc

    gc.collect()
    if on_cpu:
        memory_method = "VmHWM - VmRSS"
        if not _reset_peak_rss():  # no way to reset the high-water mark: ru_maxrss includes warm-up
            import resource

            memory_method = "ru_maxrss - VmRSS (includes warm-up)"
        base_kb = _proc_status_kb("VmRSS") or 0
    else:
        memory_method = "cuda max_memory_allocated - memory_allocated"
        torch.cuda.reset_peak_memory_stats()
        base_bytes = torch.cuda.memory_allocated()

    times = []
    for _ in range(steps):
        sync()
        start = time.perf_counter()
        losses.append(step())
        sync()
        times.append(time.perf_counter() - start)

    if on_cpu:
        if memory_method.startswith("VmHWM"):
            peak_kb = _proc_status_kb("VmHWM") or 0
        else:
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mb = max(peak_kb - base_kb, 0) / 1024.0
    else:
        peak_mb = (torch.cuda.max_memory_allocated() - base_bytes) / 2**20

    return {
        "model": model,
        "variant": variant,
        "step_s": statistics.median(times),
        "step_times_s": times,
        "warmup_s": warmup_times,
        "peak_mb": peak_mb,
        "memory_method": memory_method,
        "final_loss": losses[-1],
        "threads": torch.get_num_threads(),
    }


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
        if hasattr(os, "sysconf") else None,
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


def _run_in_subprocess(args: argparse.Namespace, model: str, variant: str) -> dict:
    command = [
        sys.executable, "-m", "inr_bench.benchmarks.throughput", "--worker", f"{model}:{variant}",
        "--size", str(args.size), "--steps", str(args.steps), "--warmup", str(args.warmup),
        "--device", args.device, "--width", str(args.width), "--hidden-layers", str(args.hidden_layers),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{model}/{variant} failed:\n{result.stderr[-4000:]}")
    for stderr_line in result.stderr.splitlines():
        if "Warning" in stderr_line:
            print(f"[{model}/{variant}] {stderr_line}", file=sys.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


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
            "ratio_to_floor": default["step_s"] / floor["step_s"],
            "memory_ratio": default["peak_mb"] / eager["peak_mb"] if eager["peak_mb"] > 0 else float("nan"),
        }
    return summary


def print_table(summary: dict[str, dict], machine: dict, size: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Training step, {size}x{size} full batch, float32 — {machine['cpu']}, "
                        f"{machine['torch_threads']} threads, device {machine['device']}")
    for column in ("model", "eager s", "default s", "floor s", "eager MB", "default MB",
                   "speedup vs eager (>=3)", "default/floor (<=1.25)", "memory ratio (<=0.5)"):
        table.add_column(column, justify="right")

    def mark(value: float, target: float, at_least: bool) -> str:
        ok = value >= target if at_least else value <= target
        return f"{value:.2f} {'ok' if ok else 'MISSED'}"

    for model, row in summary.items():
        table.add_row(
            model, f"{row['eager_step_s']:.3f}", f"{row['default_step_s']:.3f}", f"{row['floor_step_s']:.3f}",
            f"{row['eager_peak_mb']:.0f}", f"{row['default_peak_mb']:.0f}",
            mark(row["speedup_vs_eager"], TARGETS["speedup_vs_eager"], True),
            mark(row["ratio_to_floor"], TARGETS["ratio_to_floor"], False),
            mark(row["memory_ratio"], TARGETS["memory_ratio"], False),
        )
    Console().print(table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m inr_bench.benchmarks.throughput",
        description="Median training-step time and peak memory: eager reference, default (fused) "
                    "path and the matrix-product floor, for SPDER and SIREN.",
    )
    parser.add_argument("--size", type=int, default=256, help="image side; full batch of size^2 pixels")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (include compilation)")
    parser.add_argument("--models", default="spder,siren", help="comma-separated subset of: spder,siren")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--hidden-layers", type=int, default=5, help="5 = 7 linear layers (reference)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        parser.error(f"--models: unknown {unknown}; choose from {', '.join(MODELS)}")
    if args.steps < 1 or args.size < 2:
        parser.error("--steps must be >= 1 and --size >= 2")
    args.models = models
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        model, variant = args.worker.split(":")
        result = run_variant(model, variant, args.size, args.steps, args.warmup, args.device,
                             args.width, args.hidden_layers)
        print(json.dumps(result))
        return result

    machine = describe_machine(args.device)
    runs: dict[str, dict[str, dict]] = {}
    for model in args.models:
        runs[model] = {}
        for variant in VARIANTS:
            print(f"running {model} / {variant} ...", file=sys.stderr, flush=True)
            runs[model][variant] = _run_in_subprocess(args, model, variant)
    if hasattr(os, "getloadavg"):
        machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summary = summarise(runs)
    print_table(summary, machine, args.size)
    if args.out is not None:
        document = dict(summary)
        document["machine"] = machine
        machine["benchmark"] = {
            "size": args.size, "steps": args.steps, "warmup": args.warmup, "width": args.width,
            "linear_layers": args.hidden_layers + 2, "dtype": "float32", "optimizer": "Adam(lr=1e-4)",
            "fused_env": os.environ.get("INR_BENCH_FUSED", "1"),
            "memory_method": runs[args.models[0]]["eager"]["memory_method"],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
    return summary


if __name__ == "__main__":
    main()
