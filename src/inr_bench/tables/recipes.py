"""The training-recipe study's summary and figure, from a table of experiment=recipes.

    python -m inr_bench.tables.recipes table_results/recipes_main_job

Per column (a recipe) over its fits (seeds or images): the PSNR of the state the fit ended on
(the last update's, or the lowest-loss one under restore_best) as mean ± std and per fit; the
first step whose loss reached a target (the paper's SPDER step-500 loss, 6.7e-8, by default)
and the worst spike after it (how far the loss rose again, in dB of PSNR lost). Writes
`recipes.md` and `recipes.png` (every fit's training PSNR against the step, a panel per recipe).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from inr_bench.atomic import write_text_atomic
from inr_bench.metrics import psnr

PAPER_SPDER_LOSS_500 = 6.7e-8  # SPDER paper, Table 1, loss at step 500


def load(table_dir: Path) -> dict[str, list[dict]]:
    """{column: [result records]} of a table folder, in the order of the columns' folders."""
    columns: dict[str, list[dict]] = {}
    for path in sorted((Path(table_dir) / "results").glob("*/*.json")):
        record = json.loads(path.read_text())
        if record.get("status") == "ok":
            columns.setdefault(path.parent.name, []).append(record)
    return columns


def fit_summary(record: dict, target: float) -> dict:
    curve = np.asarray(record.get("loss_curve") or [], dtype=np.float64)
    data_range = float((record.get("info") or {}).get("data_range", 2.0))
    reached = worst = None
    if len(curve):
        hits = np.nonzero(curve[:, 1] <= target)[0]
        if len(hits):
            reached = int(curve[hits[0], 0])
            worst = float(curve[hits[0] :, 1].max())
    final = record.get("final") or {}
    return {
        "final_psnr": final.get("psnr"),
        "final_step": final.get("step"),
        "restored": bool(final.get("restored_best")),
        "reached_step": reached,
        "spike_db": 10 * math.log10(worst / target) if worst is not None else None,
        "best_psnr": psnr(record["best"]["loss"], data_range)
        if (record.get("best") or {}).get("loss")
        else None,
    }


def _mean_std(values) -> str:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return "–"
    spread = f" ± {np.std(finite, ddof=1):.2f}" if len(finite) > 1 else ""
    return f"{np.mean(finite):.2f}{spread}"


def markdown(columns: dict[str, list[dict]], target: float) -> str:
    lines = [
        f"Target loss {target:g} (PSNR {psnr(target, 2.0):.1f} dB). 'end PSNR': the state the fit ended on "
        "(the lowest-loss one under restore_best). 'reached': the first step whose loss met the target "
        "(fits that reached it / all). 'worst spike after': the largest rise of the loss after that step, "
        "as dB of PSNR lost (0: never above the target again).",
        "",
        "| recipe | end PSNR (dB) | per fit | lowest-loss PSNR | reached (median step) | worst spike after (dB) |",
        "|---|---:|---|---:|---|---:|",
    ]
    for column, records in columns.items():
        fits = [fit_summary(r, target) for r in records]
        reached = [f["reached_step"] for f in fits if f["reached_step"] is not None]
        spikes = [f["spike_db"] for f in fits if f["spike_db"] is not None]
        label = records[0].get("label") or column
        per_fit = ", ".join(f"{f['final_psnr']:.1f}" + ("*" if f["restored"] else "") for f in fits)
        reach = f"{len(reached)}/{len(fits)} ({int(np.median(reached))})" if reached else f"0/{len(fits)}"
        spike = f"{max(spikes):.1f}" if spikes else "–"
        lines.append(
            f"| {label} | {_mean_std(f['final_psnr'] for f in fits)} | {per_fit} | "
            f"{_mean_std(f['best_psnr'] for f in fits)} | {reach} | {spike} |"
        )
    lines.append("")
    lines.append("\\* ended on its lowest-loss state (restore_best).")
    return "\n".join(lines) + "\n"


def plot(columns: dict[str, list[dict]], path: Path, target: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(columns), 1)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    figure, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False, sharey=True)
    for axis, (column, records) in zip(axes.flat, columns.items(), strict=False):
        for record in records:
            curve = np.asarray(record.get("loss_curve") or [], dtype=np.float64)
            if len(curve):
                axis.plot(curve[:, 0], 10 * np.log10(4.0 / curve[:, 1]), linewidth=0.8)
        axis.axhline(psnr(target, 2.0), color="black", linestyle="--", linewidth=0.8)
        axis.set_title(records[0].get("label") or column, fontsize=8)
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[n:]:
        axis.set_axis_off()
    figure.supxlabel("optimiser step", fontsize=8)
    figure.supylabel("training PSNR (dB)", fontsize=8)
    figure.suptitle(
        f"Training PSNR per fit; dashed: the paper's SPDER loss at step 500 ({target:g})", fontsize=9
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write(table_dir: Path, target: float = PAPER_SPDER_LOSS_500) -> Path:
    columns = load(table_dir)
    plot(columns, Path(table_dir) / "recipes.png", target)
    return write_text_atomic(
        Path(table_dir) / "recipes.md", "# Training recipes\n\n" + markdown(columns, target)
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table_dir", type=Path)
    parser.add_argument("--target", type=float, default=PAPER_SPDER_LOSS_500)
    args = parser.parse_args(argv)
    print(write(args.table_dir, args.target).read_text())


if __name__ == "__main__":
    main()
