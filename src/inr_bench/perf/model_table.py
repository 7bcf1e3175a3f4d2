"""Every model of conf/model/ on one real image: loss, PSNR and rho_AG after N steps, as Markdown.

    INR_BENCH_DATA=../shared/data python -m inr_bench.perf.model_table            # all models
    python -m inr_bench.perf.model_table --models spder siren --size 64 --steps 100

Each model runs through `inr_bench.train.train` with its own YAML (network, encoding and
optimiser, learning rate included) on DIV2K image `--index` (top-left square crop, resized to
`--size`, channel 0), full batch, float32, seed 0; the figures are the run's final metrics.json
entry (PSNR = 10 log10(4 / MSE) on [-1, 1]; rho_AG the reference code's variant). Runs share one
process, so a model's time includes any kernel compilation it triggers first.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from inr_bench.config import compose_config, group_options


def all_models() -> list[str]:
    """Every model config (the package's and any on the search path), in table order."""
    return sorted(
        group_options("model"), key=lambda name: (compose_config([f"model={name}"]).model.table_order, name)
    )


def run_model(model: str, args: argparse.Namespace, out_dir: Path) -> dict:
    from inr_bench.train import train

    overrides = [
        f"model={model}",
        f"data={args.data}",
        f"data.index={args.index}",
        f"data.size={args.size}",
        f"trainer.max_steps={args.steps}",
        f"eval_steps=[{args.steps}]",
        "callbacks=none",
        "trainer.enable_progress_bar=false",
        "save_outputs=false",
        f"paths.output_dir={out_dir / model}",
    ]
    cfg = compose_config(overrides)
    start = time.perf_counter()
    record = train(cfg)
    final = record["final"]
    return {
        "model": model,
        "label": record["label"],
        "parameters": record["info"]["parameters"],
        "loss": final["loss"],
        "psnr": final["psnr"],
        "rho_ag": final["rho_ag"],
        "seconds": time.perf_counter() - start,
    }


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"| model | parameters | loss @ {args.steps} | PSNR (dB) | rho_AG | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} (`{row['model']}`) | {row['parameters']:,} | {row['loss']:.2e} | {row['psnr']:.1f} "
            f"| {row['rho_ag']:.6f} | {row['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=all_models())
    parser.add_argument("--data", default="div2k")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out-dir", type=Path, default=None, help="run folders (default: a temporary one)")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.out_dir or Path(tmp)
        for model in args.models:
            row = run_model(model, args, out_dir)
            print(
                f"[model_table] {model}: loss {row['loss']:.3e}, PSNR {row['psnr']:.1f} dB, "
                f"rho_AG {row['rho_ag']:.6f}, {row['seconds']:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            rows.append(row)
    print(markdown(rows, args))


if __name__ == "__main__":
    main()
