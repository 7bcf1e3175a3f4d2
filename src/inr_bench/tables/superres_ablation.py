"""The super-resolution ablation's table and figure, from the tables its multirun wrote.

    python -m inr_bench.tables.superres_ablation table_results/superres_ablation

Reads every table result file below the folder (`experiment=superres_ablation` writes one table
per base size and w0 setting), takes each fit's base size, first-layer and hidden w0 and column
from the file itself (`table.settings`, `info`), and writes beside them:
- `ablation.md` / `ablation.csv`: per dataset, base size, factor and w0 setting, the mean PSNR over signals
  of every column and of bicubic from the same base (and their difference), the fitting PSNR
  at the end of the fit, and n; `ablation.md` then repeats the tables with the datasets pooled;
- `ablation.png`: PSNR against w0, one panel per base size and factor; per column a solid line
  over the first layer's w0 (hidden layers at 30) and a dotted one over the hidden layers' w0
  (first layer `auto`), bicubic as a dashed line (the datasets pooled, targets with ground truth only).
Targets that had to be upsampled from a smaller source (no ground truth at that size) are
marked with † and left out of the figure.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from inr_bench.atomic import write_text_atomic

PAPER_W0 = 30.0  # the reference code's w0 in every layer


def _w0(settings: dict, base: int) -> tuple[float, float, bool]:
    """(first-layer w0, hidden-layer w0, whether the first was `auto`) of a fit's settings (the
    first is the hidden one when not set; `auto` is worked out as nn/build.py does)."""
    from inr_bench.nn.build import auto_first_w0

    net = settings["model"]["net"]
    hidden = float(net.get("activation", {}).get("w0", PAPER_W0))
    first = net.get("first_w0")
    if first == "auto":
        return auto_first_w0((base, base), 1.0, 2), hidden, True
    return (hidden if first is None else float(first)), hidden, False


def collect(root: Path) -> list[dict]:
    """One row per fit and factor: column, label, base size, w0s, PSNRs, bicubic, fit PSNR."""
    rows = []
    for path in sorted(Path(root).rglob("results/*/*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        table, task = record.get("table") or {}, record.get("task") or {}
        if record.get("status") != "ok" or "settings" not in table or "factors" not in task:
            continue
        base = int(task["base_size"][0])
        first, hidden, auto = _w0(table["settings"], base)
        for factor, entry in task["factors"].items():
            rows.append(
                {
                    "column": path.parent.name,
                    "data": record.get("data"),
                    "label": record.get("label") or path.parent.name,
                    "order": (record.get("info") or {}).get("table_order") or math.inf,
                    "signal": path.stem,
                    "base": base,
                    "first_w0": first,
                    "first_auto": auto,
                    "hidden_w0": hidden,
                    "factor": int(factor),
                    "interpolated": bool(entry.get("target_interpolated")),
                    "psnr": entry["inr"]["psnr"],
                    "bicubic": entry["bicubic_from_base"]["psnr"],
                    "fit_psnr": (record.get("final") or {}).get("psnr"),
                }
            )
    return rows


def _mean(values) -> float:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(finite)) if finite else math.nan


def summarise(rows: list[dict]) -> list[dict]:
    """Means over signals per (dataset, base, factor, first w0, hidden w0, column)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        key = (row["data"], row["base"], row["factor"], row["first_w0"], row["hidden_w0"], row["column"])
        groups[key].append(row)
    summary = []
    for (data, base, factor, first, hidden, column), members in sorted(
        groups.items(), key=lambda item: item[0]
    ):
        summary.append(
            {
                "data": data,
                "base": base,
                "factor": factor,
                "first_w0": first,
                "hidden_w0": hidden,
                "first_auto": members[0]["first_auto"],
                "column": column,
                "label": members[0]["label"],
                "order": members[0]["order"],
                "interpolated": any(m["interpolated"] for m in members),
                "psnr": _mean(m["psnr"] for m in members),
                "bicubic": _mean(m["bicubic"] for m in members),
                "fit_psnr": _mean(m["fit_psnr"] for m in members),
                "n": len(members),
            }
        )
    for row in summary:
        row["minus_bicubic"] = row["psnr"] - row["bicubic"]
    return summary


def _pooled(summary: list[dict]) -> list[dict]:
    """The datasets' means pooled per (base, factor, w0s, column), weighted by their n."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in summary:
        groups[(row["base"], row["factor"], row["first_w0"], row["hidden_w0"], row["column"])].append(row)
    pooled = []
    for members in groups.values():
        total = sum(m["n"] for m in members)
        row = dict(members[0], data=" + ".join(sorted(str(m["data"]) for m in members)))
        for key in ("psnr", "bicubic", "fit_psnr", "minus_bicubic"):
            row[key] = sum(m[key] * m["n"] for m in members) / total
        row["n"] = total
        pooled.append(row)
    return pooled


def _columns(summary: list[dict]) -> list[tuple[str, str]]:
    seen = {}
    for row in sorted(summary, key=lambda r: (r["order"], r["column"])):
        seen.setdefault(row["column"], row["label"])
    return list(seen.items())


def markdown(summary: list[dict]) -> str:
    """Per base size and factor: rows of w0 settings, a column per model (PSNR, and its
    difference to bicubic), bicubic, and the fit's own PSNR per model at the end of fitting."""
    columns = _columns(summary)
    lines = []
    for data, base, factor in sorted({(r["data"], r["base"], r["factor"]) for r in summary}):
        cells = [r for r in summary if (r["data"], r["base"], r["factor"]) == (data, base, factor)]
        mark = " †" if any(r["interpolated"] for r in cells) else ""
        n = max(r["n"] for r in cells)
        lines += [
            "",
            f"### {data}: {base}x{base} base, {factor}x ({base * factor}x{base * factor}){mark}, n = {n}",
            "",
            "| first w0 | hidden w0 | " + " | ".join(label for _, label in columns) + " | bicubic |",
            "|---:|---:|" + "---:|" * (len(columns) + 1),
        ]
        for first, hidden in sorted({(r["first_w0"], r["hidden_w0"]) for r in cells}):
            by_column = {r["column"]: r for r in cells if (r["first_w0"], r["hidden_w0"]) == (first, hidden)}
            entries = []
            for column, _ in columns:
                row = by_column.get(column)
                entries.append(
                    "–"
                    if row is None
                    else f"{row['psnr']:.2f} ({row['minus_bicubic']:+.2f}); fit {row['fit_psnr']:.1f}"
                )
            sample = next(iter(by_column.values()))
            first_text = f"auto ({first:.3g})" if sample["first_auto"] else f"{first:g}"
            lines.append(
                f"| {first_text} | {hidden:g} | " + " | ".join(entries) + f" | {sample['bicubic']:.2f} |"
            )
    header = [
        "Cells: mean PSNR (dB, 10·log10(4/MSE)) of the super-resolved image against the target, its "
        "difference to bicubic from the same base in brackets, and the PSNR of the fit of the base "
        "image itself at the end of fitting. † the target had to be upsampled from a smaller source "
        "image: no ground truth at that size.",
    ]
    return "\n".join(header + lines) + "\n"


def plot(summary: list[dict], path: Path) -> Path | None:
    """PSNR against w0 per base size (columns) and factor (rows): per model the first layer's sweep
    and the hidden layers' sweep, bicubic dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    usable = [r for r in summary if not r["interpolated"]]
    if not usable:
        return None
    usable = _pooled(usable)
    bases = sorted({r["base"] for r in usable})
    factors = sorted({r["factor"] for r in usable})
    columns = _columns(usable)
    figure, axes = plt.subplots(
        len(factors), len(bases), figsize=(3.6 * len(bases), 2.9 * len(factors)), squeeze=False
    )
    colours = {column: f"C{i}" for i, (column, _) in enumerate(columns)}
    for i, factor in enumerate(factors):
        for j, base in enumerate(bases):
            axis = axes[i][j]
            cells = [r for r in usable if r["base"] == base and r["factor"] == factor]
            if not cells:
                axis.set_axis_off()
                continue
            for column, label in columns:
                # solid: the first layer's w0 swept, hidden layers at the paper's 30; dotted: the
                # hidden layers' w0 swept, the first layer's chosen by first_w0=auto
                for x_key, keep, style, suffix in (
                    ("first_w0", lambda r: not r["first_auto"] and r["hidden_w0"] == PAPER_W0, "o-", ""),
                    ("hidden_w0", lambda r: r["first_auto"], "s:", " (hidden w0, first auto)"),
                ):
                    line = sorted(
                        (r for r in cells if r["column"] == column and keep(r)), key=lambda r: r[x_key]
                    )
                    if line:
                        axis.plot(
                            [r[x_key] for r in line],
                            [r["psnr"] for r in line],
                            style,
                            color=colours[column],
                            label=label + suffix,
                            markersize=3,
                        )
            axis.axhline(cells[0]["bicubic"], color="black", linestyle="--", linewidth=1, label="bicubic")
            axis.axvline(PAPER_W0, color="grey", linestyle=":", linewidth=1)
            axis.set_xscale("log", base=2)
            axis.set_title(f"{base}px base, {factor}x", fontsize=9)
            axis.tick_params(labelsize=7)
            if i == len(factors) - 1:
                axis.set_xlabel("w0 (grey: the paper's 30)", fontsize=8)
            if j == 0:
                axis.set_ylabel("PSNR (dB)", fontsize=8)
    legend = {}
    for axis in axes.flat:  # every panel's lines, once each (not every panel has every sweep)
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    figure.legend(legend.values(), legend.keys(), loc="lower center", ncol=min(len(legend), 4), fontsize=8)
    figure.suptitle(
        "Super-resolution PSNR against w0 (solid: the first layer's, hidden at 30; dotted: the hidden "
        "layers', first auto); mean over signals",
        fontsize=9,
    )
    figure.tight_layout(rect=(0, 0.09, 1, 0.97))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write(root: Path) -> Path:
    """ablation.md, ablation.csv and ablation.png into `root`; returns ablation.md."""
    root = Path(root)
    summary = summarise(collect(root))
    buffer = io.StringIO()
    if summary:
        writer = csv.DictWriter(buffer, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    write_text_atomic(root / "ablation.csv", buffer.getvalue())
    plot(summary, root / "ablation.png")
    pooled = _pooled(summary) if summary else []
    text = "# Super-resolution ablation\n\n" + markdown(summary)
    if pooled:  # the datasets together, as the figure shows them
        text += "\n## The datasets pooled (means weighted by n)\n\n" + markdown(pooled)
    return write_text_atomic(root / "ablation.md", text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="the folder holding the ablation's tables")
    args = parser.parse_args(argv)
    print(write(args.root).read_text())


if __name__ == "__main__":
    main()
