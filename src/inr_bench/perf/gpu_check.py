"""One command that proves the CUDA path the day a GPU is at hand: `make gpu-check`.

    python -m inr_bench.perf.gpu_check --out gpu_check/          # on a machine with a GPU (~5 min)
    python -m inr_bench.perf.gpu_check --dry --out /tmp/check    # anywhere: tiny sizes, CUDA parts skipped

On one GPU it runs, each step in its own process (so a failure is reported and the next step
still runs):
1. the GPU tests (`pytest -m gpu`: every damping's compiled kernels against the eager formulation
   in float64, forward and backward, on random and real inputs; a fit on the GPU);
2. the throughput benchmark (eager, default, the matrix-product floor; peak memory) at 256x256
   (SPDER and SIREN) and 512x512 (SPDER);
3. batched fitting of K = 1, 8 and 64 signals against K fits one after another;
4. the main job (SPDER on the cameraman, 256x256, 500 steps), timed;
5. a slice of Table 1: SPDER and SIREN on the 16 DIV2K crops at 256x256, 500 steps, batched, with
   the PSNRs beside the CPU runs of REPRODUCTION.md (crops 0-3);
and writes one report, `gpu_check.json` and `gpu_check.md` (the card named), into --out.
The dry mode runs the same steps on the CPU at tiny sizes and says which CUDA parts it skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

# CPU figures of REPRODUCTION.md (Table 1 at 256x256, an AMD EPYC 2-core VM, float32), PSNR dB at
# steps 25 / 100 / 500 per DIV2K crop, for the comparison of step 5.
CPU_TABLE1_256 = {
    "siren": {0: (21.8, 25.7, 31.3), 1: (28.6, 33.4, 40.0), 2: (20.4, 24.1, 37.6), 3: (21.9, 27.5, 38.1)},
    "spder": {0: (27.3, 48.8, 53.7), 1: (33.9, 61.6, 81.1), 2: (27.1, 54.5, 51.0), 3: (29.3, 51.9, 94.9)},
}


def _sizes(dry: bool) -> dict:
    if dry:
        return {
            "throughput": [16],
            "throughput_models": {16: "spder,siren"},
            "throughput_steps": 1,
            "batched_k": [1, 2],
            "batched_size": 8,
            "batched_steps": 2,
            "main_steps": 2,
            "main_size": 16,
            "table_signals": 2,
            "table_size": 8,
            "table_steps": 2,
        }
    return {
        "throughput": [256, 512],
        "throughput_models": {256: "spder,siren", 512: "spder"},
        "throughput_steps": 10,
        "batched_k": [1, 8, 64],
        "batched_size": 64,
        "batched_steps": 100,
        "main_steps": 500,
        "main_size": 256,
        "table_signals": 16,
        "table_size": 256,
        "table_steps": 500,
    }


class Check:
    """Runs the steps, each a command of its own, and keeps what each reported."""

    def __init__(self, out: Path, dry: bool) -> None:
        self.out, self.dry = out, dry
        self.device = "cpu" if dry else "cuda"
        self.steps: list[dict] = []
        out.mkdir(parents=True, exist_ok=True)

    def run(self, name: str, command: list[str], timeout: float, env: dict | None = None) -> dict:
        print(f"[gpu-check] {name}: {' '.join(command)}", flush=True)
        start = time.perf_counter()
        log = self.out / f"{name}.log"
        try:
            with log.open("w") as stream:
                proc = subprocess.run(
                    command,
                    stdout=stream,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    env={**os.environ, **(env or {})},
                )
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        step = {
            "name": name,
            "command": " ".join(command),
            "exit": code,
            "seconds": time.perf_counter() - start,
        }
        self.steps.append(step)
        tail = log.read_text().strip().splitlines()[-3:]
        print(
            f"[gpu-check] {name}: exit {code} in {step['seconds']:.0f} s; {' | '.join(tail)[-300:]}",
            flush=True,
        )
        return step

    def skip(self, name: str, why: str) -> None:
        print(f"[gpu-check] {name}: skipped ({why})", flush=True)
        self.steps.append({"name": name, "skipped": why})


def machine() -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=props.name,
            gpu_memory_gb=round(props.total_memory / 2**30, 1),
            capability=f"{props.major}.{props.minor}",
        )
    return info


def table_comparison(results: Path) -> list[dict]:
    """Per model and crop 0-3: our GPU PSNRs at 25 / 100 / 500 beside the CPU runs'."""
    rows = []
    for model, crops in CPU_TABLE1_256.items():
        for crop, cpu in crops.items():
            path = results / model / f"div2k_{crop:04d}.json"
            if not path.is_file():
                continue
            record = json.loads(path.read_text())
            gpu = {e["step"]: e["psnr"] for e in record.get("evals", [])}
            rows.append(
                {"model": model, "crop": crop, "gpu": [gpu.get(s) for s in (25, 100, 500)], "cpu": list(cpu)}
            )
    return rows


def markdown(report: dict) -> str:
    m = report["machine"]
    card = m.get("gpu", "no GPU (dry run on the CPU)")
    lines = [
        "# GPU check",
        "",
        f"Card: **{card}**; torch {m['torch']}, CUDA {m['cuda']}, Python {m['python']}; {report['date']}.",
        "",
        "| step | exit | seconds |",
        "|---|---|---:|",
    ]
    for step in report["steps"]:
        if "skipped" in step:
            lines.append(f"| {step['name']} | skipped: {step['skipped']} | |")
        else:
            lines.append(f"| {step['name']} | {step['exit']} | {step['seconds']:.1f} |")
    for name, figures in report.get("figures", {}).items():
        lines += ["", f"## {name}", "", "```", json.dumps(figures, indent=1)[:4000], "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check"))
    parser.add_argument("--dry", action="store_true", help="tiny sizes on the CPU; CUDA parts skipped")
    args = parser.parse_args(argv)
    if not args.dry and not torch.cuda.is_available():
        parser.error("no CUDA GPU here: run with --dry for the CPU dry run")
    sizes, check, py = _sizes(args.dry), Check(args.out, args.dry), sys.executable
    started = time.perf_counter()
    figures: dict = {}

    def report() -> dict:
        """The report so far, written after every step: a run cut short still leaves one."""
        document = {
            "machine": machine(),
            "dry": args.dry,
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "seconds": time.perf_counter() - started,
            "steps": check.steps,
            "figures": figures,
        }
        (args.out / "gpu_check.json").write_text(json.dumps(document, indent=2) + "\n")
        (args.out / "gpu_check.md").write_text(markdown(document))
        return document

    # 1. the GPU tests
    if args.dry:
        check.skip("gpu_tests", "no CUDA: pytest -m gpu runs on a GPU only")
    else:
        check.run(
            "gpu_tests",
            [py, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests/test_gpu.py"],
            150,
        )

    # 2. throughput at each size
    for size in sizes["throughput"]:
        out = args.out / f"throughput_{size}.json"
        step = check.run(
            f"throughput_{size}",
            [py, "-m", "inr_bench.perf.throughput", "--device", check.device, "--size", str(size),
             "--steps", str(sizes["throughput_steps"]), "--warmup", "1", "--models", sizes["throughput_models"][size],
             "--out", str(out)],
            120,
        )  # fmt: skip
        if step["exit"] == 0:
            figures[f"throughput {size}x{size}"] = {
                model: {k: row[k] for k in ("eager_step_s", "default_step_s", "floor_step_s", "speedup_vs_eager",
                                            "ratio_to_floor", "eager_peak_mb", "default_peak_mb", "memory_ratio")}
                for model, row in json.loads(out.read_text()).items() if model != "machine"
            }  # fmt: skip
        report()

    # 3. batched fitting against sequential fits
    out = args.out / "batched.json"
    step = check.run(
        "batched",
        [py, "-m", "inr_bench.perf.batched_speed", "--device", check.device, "--size", str(sizes["batched_size"]),
         "--steps", str(sizes["batched_steps"]), "--k", *map(str, sizes["batched_k"]), "--out", str(out)],
        90,
    )  # fmt: skip
    if step["exit"] == 0:
        figures["batched fitting"] = [
            {k: row[k] for k in ("k", "sequential_s", "batched_s", "ratio_sequential_over_batched")}
            for row in json.loads(out.read_text())["rows"]
        ]
    report()

    # 4. the main job
    run_dir = args.out / "main_job"
    step = check.run(
        "main_job",
        [py, "-m", "inr_bench.train", f"trainer.accelerator={'cpu' if args.dry else 'gpu'}",
         f"trainer.max_steps={sizes['main_steps']}", f"data.size={sizes['main_size']}", f"hydra.run.dir={run_dir}",
         "callbacks.progress_bar=null"],
        60,
    )  # fmt: skip
    if step["exit"] == 0:
        record = json.loads((run_dir / "metrics.json").read_text())
        figures["main job"] = {"seconds": step["seconds"], "final": record["final"], "best": record["best"]}
    report()

    # 5. a slice of Table 1
    table_dir = args.out / "table1_slice"
    step = check.run(
        "table1_slice",
        [py, "-m", "inr_bench.tables", "experiment=paper_table1", "table.models=[spder,siren]",
         f"table.num_signals={sizes['table_signals']}", f"table.batch_size={sizes['table_signals']}",
         f"table.device={check.device}", f"data.size={sizes['table_size']}", f"trainer.max_steps={sizes['table_steps']}",
         f"table.out_dir={table_dir}"],
        150,
    )  # fmt: skip
    if step["exit"] == 0:
        figures["table 1 slice"] = {
            "seconds": step["seconds"],
            "beside the CPU (PSNR dB at steps 25/100/500)": table_comparison(table_dir / "results"),
        }

    document = report()
    failed = [s["name"] for s in check.steps if s.get("exit") not in (0, None)]
    print(
        f"[gpu-check] {'dry run' if args.dry else document['machine'].get('gpu')}: {len(check.steps)} steps, "
        f"{len(failed)} failed{': ' + ', '.join(failed) if failed else ''}; {document['seconds']:.0f} s; "
        f"report {args.out / 'gpu_check.md'}",
        flush=True,
    )
    if failed:
        sys.exit(1)
    return document


if __name__ == "__main__":
    main()
