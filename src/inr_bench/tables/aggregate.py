"""Result files of a benchmark -> the paper's tables (Markdown, CSV) and a PSNR-per-step plot.

    python -m inr_bench.tables.aggregate DIR          # rebuild DIR/table.md, table.csv, psnr_vs_step.png

Layout of table.md mirrors the paper's Table 1: one row per (metric, step), one column per
architecture, cells "mean ± std" over the fits that succeeded. Statistics: arithmetic mean
and sample standard deviation (ddof = 1; 0 for a single fit) of the per-signal values; a PSNR
is averaged per signal (the mean of the PSNRs, not the PSNR of the mean MSE). Failed fits are
left out of every mean and counted in the row "fits ok / failed"; a perfect fit (MSE 0, PSNR
infinite, written as null) is left out of the PSNR mean and counted in a note.
Downstream tasks (super-resolution, audio interpolation, ...) add one table per task: rows
(metric, factor), columns each architecture and each baseline the task scored.

table.csv is the same in long form: table, metric, step (or factor), column, mean, std, n, n_failed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from inr_bench.atomic import write_text_atomic

METRICS = (
    ("loss", "Loss (MSE, ↓)"),
    ("psnr", "PSNR dB (↑), 10·log10(4/MSE)"),
    ("psnr_paper", "PSNR dB (↑), reference code's 20·log10(255/MSE₂₅₅)"),
    ("rho_ag", "ρ_AG (↑)"),
    ("ssim", "SSIM (↑)"),
    ("best_loss", "Lowest loss up to the step (↓; the reference code logged this)"),
    ("best_psnr", "PSNR dB of that lowest loss (↑), 10·log10(4/MSE)"),
)
TASK_METRICS = (
    ("mse", "MSE (↓)"),
    ("psnr", "PSNR dB (↑)"),
    ("rho_ag", "ρ_AG (↑)"),
    ("held_out_mse", "held-out MSE (↓)"),
)


def load_results(out_dir: Path) -> dict[str, dict[str, dict]]:
    """{model: {signal_id: record}} of every result file under out_dir/results."""
    results: dict[str, dict[str, dict]] = {}
    for path in sorted((Path(out_dir) / "results").glob("*/*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        results.setdefault(path.parent.name, {})[path.stem] = record
    return results


def column_labels(results: dict[str, dict[str, dict]]) -> dict[str, str]:
    """Each architecture's column heading: the `label` of its model config, as its records say."""
    return {
        model: next((r["label"] for r in records.values() if r.get("label")), model)
        for model, records in results.items()
    }


def order_models(models, results: dict[str, dict[str, dict]]) -> list[str]:
    """Architectures in table order: their model configs' `table_order`, then by name."""

    def place(model: str) -> tuple:
        orders = [(r.get("info") or {}).get("table_order") for r in results.get(model, {}).values()]
        order = next((o for o in orders if o is not None), math.inf)
        return (order, model)

    return sorted(dict.fromkeys(models), key=place)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1); the deviation of one value is NaN."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else math.nan


def format_cell(metric: str, mean: float, std: float) -> str:
    """'mean ± std' in the metric's precision; just the mean where std is undefined (n = 1)."""
    if metric in ("loss", "mse", "held_out_mse", "best_loss"):
        number, spread = (f"{mean:.4f}" if mean >= 1e-3 else f"{mean:.2e}"), f"{std:.1e}"
    elif "psnr" in metric:
        number, spread = f"{mean:.2f}", f"{std:.2f}"
    elif metric in ("rho_ag", "ssim"):
        number, spread = f"{mean:.5f}", f"{std:.1e}"
    else:
        number, spread = f"{mean:.4g}", f"{std:.2g}"
    return f"{number} ± {spread}" if math.isfinite(std) else number


def eval_at(record: dict, step: int) -> dict | None:
    """The record's evaluation after `step` updates, plus the lowest loss seen up to then
    (`best_loss`, from the loss curve and that evaluation: what the reference code logged) and
    its PSNR (`best_psnr`)."""
    entry = next((e for e in record.get("evals", []) if e["step"] == step), None)
    if entry is None:
        return None
    entry = dict(entry)
    seen = [loss for t, loss in record.get("loss_curve") or [] if t <= step and loss is not None]
    if entry.get("loss") is not None:
        seen.append(entry["loss"])
    finite = [float(loss) for loss in seen if math.isfinite(float(loss))]
    if finite:
        best = min(finite)
        data_range = float((record.get("info") or {}).get("data_range") or 2.0)
        entry["best_loss"] = best
        entry["best_psnr"] = 10.0 * math.log10(data_range**2 / best) if best > 0 else None
    return entry


def _fit_table(
    results: dict, models: list[str], labels: dict[str, str]
) -> tuple[list[list[str]], list[dict], list[str]]:
    """Markdown rows, CSV rows and notes of the fitting table (metric x step, model columns)."""
    steps = sorted(
        {
            entry["step"]
            for m in models
            for r in results.get(m, {}).values()
            if r.get("status") == "ok"
            for entry in r.get("evals", [])
        }
    )
    rows, tidy, notes = [], [], []
    counts = {}
    for model in models:
        records = list(results.get(model, {}).values())
        counts[model] = (
            sum(r.get("status") == "ok" for r in records),
            sum(r.get("status") != "ok" for r in records),
        )
    rows.append(["fits ok / failed", ""] + [f"{counts[m][0]} / {counts[m][1]}" for m in models])
    for metric, name in METRICS:
        any_value = False
        metric_rows = []
        for step in steps:
            cells = []
            for model in models:
                ok = [r for r in results.get(model, {}).values() if r.get("status") == "ok"]
                entries = [eval_at(r, step) for r in ok]
                values = [e.get(metric) for e in entries if e is not None]
                finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
                missing = sum(v is None for v in values)
                if "psnr" in metric and missing:
                    notes.append(
                        f"{labels[model]}, step {step}: {missing} fit(s) with MSE 0 (PSNR infinite) left out of the {metric} mean."
                    )
                if not finite:
                    cells.append("–")
                    continue
                any_value = True
                mean, std = mean_std(finite)
                cells.append(format_cell(metric, mean, std))
                tidy.append(
                    {
                        "table": "fit",
                        "metric": metric,
                        "step": step,
                        "column": model,
                        "mean": mean,
                        "std": std,
                        "n": len(finite),
                        "n_failed": counts[model][1],
                    }
                )
            metric_rows.append([name if not metric_rows else "", str(step), *cells])
        if any_value:
            rows.extend(metric_rows)
    return rows, tidy, notes


def _task_tables(
    results: dict, models: list[str], labels: dict[str, str]
) -> tuple[list[tuple[str, list[list[str]], list[str]]], list[dict]]:
    """One table per downstream task found in the records: (metric, factor) x (models, baselines)."""
    tables, tidy = [], []
    tasks = {}
    for model in models:
        for record in results.get(model, {}).values():
            task = record.get("task")
            if (
                record.get("status") == "ok"
                and isinstance(task, dict)
                and isinstance(task.get("factors"), dict)
            ):
                tasks.setdefault(task.get("name", "task"), set()).add(model)
    for task_name in sorted(tasks):
        task_models = [m for m in models if m in tasks[task_name]]
        factors: list[str] = []
        baselines: list[str] = []
        for model in task_models:
            for record in results[model].values():
                task = record.get("task") or {}
                if record.get("status") != "ok" or task.get("name", "task") != task_name:
                    continue
                for factor, entry in task["factors"].items():
                    if factor not in factors:
                        factors.append(factor)
                    for key, value in entry.items():
                        if (
                            key != "inr"
                            and isinstance(value, dict)
                            and "mse" in value
                            and key not in baselines
                        ):
                            baselines.append(key)
        factors.sort(key=lambda f: float(f) if f.replace(".", "", 1).isdigit() else math.inf)
        # Super-resolution past the source's own size scores against an upsample, not the truth.
        interpolated = {
            factor
            for model in task_models
            for record in results[model].values()
            if record.get("status") == "ok" and (record.get("task") or {}).get("name", "task") == task_name
            for factor, entry in (record["task"].get("factors") or {}).items()
            if isinstance(entry, dict) and entry.get("target_interpolated")
        }
        columns = [(m, "inr", labels[m]) for m in task_models]
        # Baselines do not depend on the architecture: take them from the first one's fits.
        columns += [(task_models[0], b, b) for b in baselines]
        header = ["Metric", "Factor", *[c[2] for c in columns]]
        rows = [header]
        for metric, name in TASK_METRICS:
            metric_rows = []
            any_value = False
            for factor in factors:
                cells = []
                for model, key, _ in columns:
                    values = []
                    for record in results[model].values():
                        task = record.get("task") or {}
                        if record.get("status") != "ok" or task.get("name", "task") != task_name:
                            continue
                        value = ((task["factors"].get(factor) or {}).get(key) or {}).get(metric)
                        if value is not None and math.isfinite(float(value)):
                            values.append(float(value))
                    if not values:
                        cells.append("–")
                        continue
                    any_value = True
                    mean, std = mean_std(values)
                    cells.append(format_cell(metric, mean, std))
                    tidy.append(
                        {
                            "table": task_name,
                            "metric": metric,
                            "step": f"x{factor}",
                            "column": model if key == "inr" else key,
                            "mean": mean,
                            "std": std,
                            "n": len(values),
                            "n_failed": "",
                        }
                    )
                mark = " †" if factor in interpolated else ""
                metric_rows.append([name if not metric_rows else "", f"{factor}x{mark}", *cells])
            if any_value:
                rows.extend(metric_rows)
        notes = []
        if interpolated:
            notes.append(
                "† the target at this size is a bilinear upsample of the source image, which is "
                "smaller than the target: these rows do not score against ground truth."
            )
        tables.append((task_name, rows, notes))
    return tables, tidy


def _markdown(rows: list[list[str]]) -> str:
    header, body = rows[0], rows[1:]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _describe(results: dict, models: list[str], labels: dict[str, str]) -> list[str]:
    """What the numbers are: data, size, steps, conventions (from the records themselves)."""
    lines = []
    for model in models:
        records = list(results.get(model, {}).values())
        ok = [r for r in records if r.get("status") == "ok"]
        sample = (ok or records or [None])[0]
        if sample is None:
            continue
        info = sample.get("info") or {}
        table = sample.get("table") or {}
        modes = sorted({(r.get("table") or {}).get("mode", "?") for r in records})
        lines.append(
            f"- {labels[model]}: {len(records)} fits on data={sample.get('data')} shape {info.get('signal_shape')}, "
            f"{info.get('max_steps')} steps, {info.get('parameters')} parameters, "
            f"{'/'.join(modes)} fitting; "
            f"e.g. `{table.get('command', '')}`"
        )
    sample = next((r for m in models for r in results.get(m, {}).values() if r.get("status") == "ok"), None)
    if sample:
        info = sample.get("info") or {}
        lines.append(
            f"- PSNR: {info.get('psnr_convention')}; the second PSNR row: {info.get('psnr_paper_convention')}."
        )
        lines.append(
            f"- ρ_AG variant: {info.get('rho_ag_variant')} "
            "(reference = cosine of the |FFT| magnitudes, DC included, no mean removal)."
        )
    lines.append(
        "- Cells: mean ± sample std (ddof=1) over the fits that succeeded; PSNR averaged per signal."
    )
    failed = [
        (m, sid, r.get("reason"))
        for m in models
        for sid, r in results.get(m, {}).items()
        if r.get("status") != "ok"
    ]
    for model, sid, reason in failed:
        lines.append(f"- failed: {labels[model]} on {sid}: {reason}")
    return lines


def plot_psnr_vs_step(results: dict, models: list[str], labels: dict[str, str], path: Path) -> Path | None:
    """Mean training PSNR (10 log10(range^2 / loss), per signal) against the step, per architecture,
    with a band of one standard deviation and the evaluated PSNRs as markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    drawn = False
    for model in models:
        curves = []
        for record in results.get(model, {}).values():
            if record.get("status") != "ok" or not record.get("loss_curve"):
                continue
            data_range = float((record.get("info") or {}).get("data_range") or 2.0)
            steps, losses = np.asarray(record["loss_curve"], dtype=np.float64).T
            with np.errstate(divide="ignore"):
                curves.append((steps, 10.0 * np.log10(data_range**2 / losses)))
        if not curves:
            continue
        length = min(len(c[0]) for c in curves)
        steps = curves[0][0][:length]
        psnr = np.stack([c[1][:length] for c in curves])
        psnr[~np.isfinite(psnr)] = np.nan
        mean, std = np.nanmean(psnr, axis=0), np.nanstd(psnr, axis=0)
        (line,) = axis.plot(steps, mean, label=f"{labels[model]} (n={len(curves)})")
        axis.fill_between(steps, mean - std, mean + std, alpha=0.2, color=line.get_color())
        eval_points = {}
        for record in results[model].values():
            if record.get("status") == "ok":
                for entry in record.get("evals", []):
                    if entry.get("psnr") is not None:
                        eval_points.setdefault(entry["step"], []).append(entry["psnr"])
        if eval_points:
            xs = sorted(eval_points)
            axis.plot(xs, [np.mean(eval_points[x]) for x in xs], "o", color=line.get_color(), markersize=4)
        drawn = True
    if not drawn:
        plt.close(figure)
        return None
    axis.set_xlabel("optimiser step")
    axis.set_ylabel("PSNR (dB), 10·log10(range²/MSE)")
    axis.set_title("Training PSNR per step: mean ± std over signals (dots: evaluations)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _cell(rows: list[dict], table: str, metric: str, step, column: str) -> str:
    for row in rows:
        if (
            row["table"] == table
            and row["metric"] == metric
            and str(row["step"]) == str(step)
            and row["column"] == column
        ):
            return format_cell(metric, row["mean"], row["std"])
    return "–"


def beside_paper(tidy: list[dict], models: list[str], labels: dict[str, str], paper_key: str) -> list[str]:
    """Markdown lines: our cells and the paper's side by side (paper_tables.PAPER[paper_key])."""
    from inr_bench.tables.paper_tables import PAPER

    paper = PAPER.get(paper_key)
    if paper is None:
        return [f"(No published table named {paper_key!r} to compare with.)"]
    lines = [f"Paper: {paper['source']}.", ""]
    header = ["Metric", "Step" if "metrics" in paper else "Factor"]
    for model in models:
        header += [f"{labels[model]} ours", f"{labels[model]} paper"]
    rows = [header]
    if "metrics" in paper:
        names = dict(METRICS)
        for metric, ours_metrics in (
            ("loss", ["loss", "best_loss"]),
            ("psnr", ["psnr", "psnr_paper", "best_psnr"]),
            ("rho_ag", ["rho_ag"]),
        ):
            published = paper["metrics"].get(metric, {})
            ours_steps = {row["step"] for row in tidy if row["table"] == "fit" and row["metric"] == metric}
            steps = sorted(set(published) | ours_steps)
            if not published and not ours_steps:
                continue
            for ours_metric in ours_metrics:
                for i, step in enumerate(steps):
                    cells = []
                    for model in models:
                        cells += [
                            _cell(tidy, "fit", ours_metric, step, model),
                            published.get(step, {}).get(model, "–"),
                        ]
                    rows.append([names[ours_metric] if i == 0 else "", str(step), *cells])
    if "task" in paper:
        task_name = next((row["table"] for row in tidy if row["table"] != "fit"), None)
        names = dict(TASK_METRICS)
        for metric, published in paper["task"].items():
            for i, factor in enumerate(sorted(published, key=lambda f: float(f.rstrip("x")))):
                cells = []
                for model in models:
                    ours = (
                        _cell(tidy, task_name, metric, f"x{factor.rstrip('x')}", model) if task_name else "–"
                    )
                    cells += [ours, published[factor].get(model, "–")]
                rows.append([names[metric] if i == 0 else "", factor, *cells])
    return lines + [_markdown(rows)]


def aggregate(
    out_dir: str | Path, models=None, signal_ids=None, title: str | None = None, paper: str | None = None
) -> Path:
    """Write out_dir/table.md, table.csv and psnr_vs_step.png from out_dir/results; returns table.md.

    `models` picks the columns (default: every architecture with results), in table order;
    `signal_ids` restricts the rows to those signals (default: every result file)."""
    out_dir = Path(out_dir)
    results = load_results(out_dir)
    if signal_ids is not None:
        wanted = set(signal_ids)
        results = {m: {s: r for s, r in recs.items() if s in wanted} for m, recs in results.items()}
    models = order_models([m for m in (list(models) if models else results) if m in results], results)
    labels = column_labels(results)
    rows, tidy, notes = _fit_table(results, models, labels)
    text = [f"# {title or 'Benchmark results'}", ""]
    text.append(_markdown([["Metric", "Step", *[labels[m] for m in models]], *rows]))
    text.append("")
    task_tables, task_tidy = _task_tables(results, models, labels)
    for name, task_rows, task_notes in task_tables:
        text += ["", f"## Task: {name}", "", _markdown(task_rows), ""]
        text += [*task_notes, ""] if task_notes else []
    if paper:
        text += ["", "## Beside the paper", "", *beside_paper(tidy + task_tidy, models, labels, paper), ""]
    text += [
        "",
        "## What these numbers are",
        "",
        *_describe(results, models, labels),
        *[f"- {n}" for n in sorted(set(notes))],
        "",
    ]
    table = write_text_atomic(out_dir / "table.md", "\n".join(text))
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=["table", "metric", "step", "column", "mean", "std", "n", "n_failed"]
    )
    writer.writeheader()
    writer.writerows(tidy + task_tidy)
    write_text_atomic(out_dir / "table.csv", buffer.getvalue())
    plot_psnr_vs_step(results, models, labels, out_dir / "psnr_vs_step.png")
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="a table.out_dir (holding results/<model>/<signal>.json)")
    parser.add_argument("--models", nargs="*", help="columns (default: all, in table order)")
    parser.add_argument("--title", default=None)
    parser.add_argument(
        "--paper", default=None, help="a key of inr_bench.tables.paper_tables.PAPER (table1, ...)"
    )
    args = parser.parse_args(argv)
    print(aggregate(args.out_dir, models=args.models, title=args.title, paper=args.paper).read_text())


if __name__ == "__main__":
    main()
