"""Batched many-signal fitting against the same fits one after another, measured in one run.

    python -m inr_bench.perf.batched_speed --k 8 --size 64 --steps 100 --width 256
    python -m inr_bench.perf.batched_speed --device cuda --k 1 2 4 8 16 32 64 --size 256

For each K: K real DIV2K crops (channel 0, `--size` pixels square, from $INR_BENCH_DATA/div2k,
repeated if K exceeds the folder) are fitted for `--steps` full-batch steps by K networks of the
model config `--model` (spder by default; `--override KEY=VALUE` as on the command line, e.g.
model.net.width=128), built by nn/build.py, each step the one fitting step (fitting/step.py):
first one network after another ("sequential": the step over one CoordinateMLP and its own
optimiser, no Lightning), then all K at once ("batched": the same step over the stacked
networks, batched matrix products, one optimiser), in one pass over all points and, on a CPU,
also in the cache-sized chunks of points that `fit_batched` uses there ("batched_chunked").
Both start from the same initial networks and do the same arithmetic, so the figure is the cost
of the layout alone: ratio = sequential seconds / batched seconds (> 1: batched is faster). Evaluation is left out of both. Warm-up steps (kernel compilation, allocator) come
first and are not timed; the two variants alternate `--repeats` times and the median is taken,
so slow drift of a shared machine's load affects both alike.

`--with-train` also times K fits through `inr_bench.train.train` (Lightning, evaluations at
steps 25/100/500, what the runner does for architectures it cannot stack).
Results go to stdout and, with --out, to a JSON file (machine, device, torch, threads, load).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch


def load_signals(k: int, size: int) -> torch.Tensor:
    from inr_bench.data.image import preprocess_image, read_image_file
    from inr_bench.data.paths import IMAGE_SUFFIXES, data_root, list_files

    files = list_files(data_root() / "div2k", IMAGE_SUFFIXES)
    arrays = [preprocess_image(read_image_file(files[i % len(files)]), size) for i in range(k)]
    return torch.from_numpy(np.stack([a.reshape(-1, a.shape[-1]) for a in arrays]))


def make_nets(k: int, overrides: list[str]):
    """K networks of the model config (seeds 0 .. K-1) and its optimiser factory."""
    from inr_bench.config import compose_config
    from inr_bench.nn.build import build_network, build_optimizer

    cfg = compose_config(overrides)
    nets = []
    for i in range(k):
        torch.manual_seed(i)
        nets.append(build_network(cfg.model, 2, 1))
    return nets, (lambda parameters: build_optimizer(cfg.model, parameters))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step, coords, values, steps: int, device) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(coords, values)
    _sync(device)
    return time.perf_counter() - start


def time_sequential(nets, optimizer, coords, values, steps: int, device) -> float:
    """K fits one after another, each its own network and optimiser."""
    from inr_bench.fitting.step import FitStep

    total = 0.0
    for net, target in zip(nets, values, strict=True):
        net = copy.deepcopy(net).to(device)  # the caller's networks stay where they are
        total += _timed(
            FitStep(net, optimizer(net.parameters()), keep_predictions=False), coords, target, steps, device
        )
    return total


def time_batched(nets, optimizer, coords, values, steps: int, device, chunk: int | None = None) -> float:
    """All K at once; `chunk` points per chunk (None: the whole signal in one pass)."""
    from inr_bench.fitting.step import FitStep
    from inr_bench.nn.stacked_mlp import StackedCoordinateMLP

    model = StackedCoordinateMLP(nets).to(device)
    step = FitStep(
        model, optimizer(model.parameters()), stacked=True, chunk_size=chunk, keep_predictions=False
    )
    return _timed(step, coords, values, steps, device)


def time_train(k: int, size: int, steps: int, overrides: list[str]) -> float:
    """K fits through inr_bench.train.train, as the tables do for what they cannot stack."""
    import tempfile

    from omegaconf import open_dict

    from inr_bench.config import compose_config
    from inr_bench.train import train

    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(k):
            cfg = compose_config(
                [
                    *overrides,
                    "data=div2k",
                    f"data.index={i}",
                    f"data.size={size}",
                    f"trainer.max_steps={steps}",
                    f"paths.output_dir={tmp}/{i}",
                    "callbacks=none",
                    "save_outputs=false",
                ]
            )
            with open_dict(cfg):
                cfg.logger = {}
                cfg.trainer.enable_progress_bar = False
            start = time.perf_counter()
            train(cfg)
            total += time.perf_counter() - start
    return total


def machine(device: torch.device) -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        info["load_average_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


def measure(k: int, args, device: torch.device) -> dict:
    from inr_bench.data.base import coordinate_grid
    from inr_bench.fitting.batched import batched_chunk_size

    coords = coordinate_grid((args.size, args.size)).to(device)
    values = load_signals(k, args.size).to(device)
    overrides = [f"model={args.model}", *args.override]
    nets, optimizer = make_nets(k, overrides)
    # fit_batched's own choice: cache-sized chunks on a CPU, one pass on a GPU.
    chunk = batched_chunk_size(k, values.shape[1], device)
    # Warm-up (compilation of the fused activation, allocator): untimed.
    time_sequential([nets[0]], optimizer, coords, values[:1], args.warmup, device)
    time_batched(nets, optimizer, coords, values, args.warmup, device)
    if chunk is not None:
        time_batched(nets, optimizer, coords, values, args.warmup, device, chunk)

    def timed(fit, *extra) -> float:  # fresh networks from the same seed for every run
        nets, _ = make_nets(k, overrides)
        return fit(nets, optimizer, coords, values, args.steps, device, *extra)

    sequential, batched, chunked = [], [], []
    for _ in range(args.repeats):
        sequential.append(timed(time_sequential))
        batched.append(timed(time_batched))
        if chunk is not None:
            chunked.append(timed(time_batched, chunk))
    row = {
        "k": k,
        "sequential_s": statistics.median(sequential),
        "batched_s": statistics.median(batched),
        "sequential_runs_s": sequential,
        "batched_runs_s": batched,
    }
    row["ratio_sequential_over_batched"] = row["sequential_s"] / row["batched_s"]
    if chunked:
        row["batched_chunked_s"] = statistics.median(chunked)
        row["batched_chunk_points"] = chunk
        row["batched_chunked_runs_s"] = chunked
        row["ratio_sequential_over_batched_chunked"] = row["sequential_s"] / row["batched_chunked_s"]
    row["batched_fits_per_s"] = k / row["batched_s"]
    if args.with_train:
        row["train_s"] = time_train(k, args.size, args.steps, overrides)
        row["ratio_train_over_batched"] = row["train_s"] / row["batched_s"]
    return row


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--k", type=int, nargs="+", default=[8], help="signals per batch (several: one row each)"
    )
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--model", default="spder", help="a model config name (a coordinate MLP)")
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        help="a config override, e.g. delta=log or model.net.width=128",
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--with-train", action="store_true", help="also time K fits through inr_bench.train")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_float32_matmul_precision("highest")
    device = torch.device(args.device)
    report = {
        "machine": machine(device),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "rows": [],
    }
    report["settings"]["out"] = str(args.out) if args.out else None
    for k in args.k:
        row = measure(k, args, device)
        report["rows"].append(row)
        extra = (
            f", through train() {row['train_s']:.1f} s (x{row['ratio_train_over_batched']:.2f})"
            if "train_s" in row
            else ""
        )
        if "batched_chunked_s" in row:
            extra += (
                f"; batched in chunks of {row['batched_chunk_points']} points (the runner's CPU default) "
                f"{row['batched_chunked_s']:.2f} s, ratio {row['ratio_sequential_over_batched_chunked']:.2f}"
            )
        print(
            f"K={k:3d}: sequential {row['sequential_s']:.2f} s, batched (one pass) {row['batched_s']:.2f} s, "
            f"ratio {row['ratio_sequential_over_batched']:.2f}{extra}",
            flush=True,
        )
    report["machine"]["load_average_1min_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
