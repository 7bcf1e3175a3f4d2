"""The short report at the end of a run, from its record: what a user reads on the console and
in the run folder's train.log.

A table of the final evaluation and the best figures with their steps (loss, PSNR, SSIM,
rho_AG), the downstream task's results beside its baselines (one row per factor or held-out
set, the INR first), and where the run's files are.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from inr_bench.metrics import psnr

_MAIN_METRIC = ("psnr", "held_out_psnr", "cosine")


def _number(value, digits: str = ".2f") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else "nan"
    return f"{value:{digits}}"


def result_table(record: dict) -> Table:
    """Final and best figures, with the step each belongs to."""
    table = Table(
        title=f"{record.get('label') or record.get('model')} on {record.get('data')}", title_justify="left"
    )
    for column in ("", "step", "loss", "PSNR (dB)", "SSIM", "ρ_AG"):
        table.add_column(column, justify="left" if not column else "right")
    final = record.get("final") or {}
    if final:
        name = "restored best" if final.get("restored_best") else "final"
        table.add_row(
            name,
            str(final.get("step")),
            _number(final.get("loss"), ".3e"),
            _number(final.get("psnr")),
            _number(final.get("ssim"), ".4f"),
            _number(final.get("rho_ag"), ".5f"),
        )
    best = record.get("best") or {}
    if best.get("loss") is not None:
        data_range = float((record.get("info") or {}).get("data_range", 2.0))
        table.add_row(
            "lowest loss",
            str(best["loss_step"]),
            _number(best["loss"], ".3e"),
            _number(psnr(best["loss"], data_range)),
            "",
            "",
        )
    if best.get("rho_ag") is not None:
        table.add_row("highest ρ_AG", str(best["rho_ag_step"]), "", "", "", _number(best["rho_ag"], ".5f"))
    return table


def _task_rows(task: dict) -> tuple[str, dict[str, dict]]:
    """(heading of the row keys, {row: {column: metrics}}) of a task's record."""
    if isinstance(task.get("factors"), dict):
        return "factor", {f"{key}x": entry for key, entry in task["factors"].items()}
    if isinstance(task.get("held_out"), dict):
        return "", {"held-out frames": task["held_out"]}
    compared = {key: value for key, value in task.items() if isinstance(value, dict) and "cosine" in value}
    return "", {"gradient": compared} if compared else {}


def task_table(task: dict | None) -> Table | None:
    """The task's results: a row per factor (or held-out set), a column per estimator, the INR
    first, in the metric that task reports (PSNR, held-out PSNR, or cosine for gradients)."""
    if not task:
        return None
    heading, rows = _task_rows(task)
    if not rows:
        return None
    first = next(iter(rows.values()))
    estimators = [
        key
        for key, value in first.items()
        if isinstance(value, dict) and any(m in value for m in _MAIN_METRIC)
    ]
    metric = next(m for m in _MAIN_METRIC if any(m in first[e] for e in estimators))
    if metric == "psnr" and all("held_out_psnr" in first[e] for e in estimators):
        metric = "held_out_psnr"
    unit = {"psnr": "PSNR (dB)", "held_out_psnr": "held-out PSNR (dB)", "cosine": "cosine with the truth"}[
        metric
    ]
    table = Table(title=f"task {task.get('name')}: {unit}", title_justify="left")
    table.add_column(heading)
    for estimator in estimators:
        table.add_column(estimator.replace("_", " "), justify="right")
    digits = ".4f" if metric == "cosine" else ".2f"
    for key, entry in rows.items():
        mark = " †" if entry.get("target_interpolated") else ""
        table.add_row(
            f"{key}{mark}", *[_number((entry.get(e) or {}).get(metric), digits) for e in estimators]
        )
    return table


def run_report(record: dict, out_dir: str | Path, width: int = 100) -> str:
    """The report as plain text (Rich tables drawn with box characters)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(result_table(record))
    task = task_table(record.get("task"))
    if task is not None:
        console.print(task)
        if any(
            isinstance(entry, dict) and entry.get("target_interpolated")
            for entry in (record["task"].get("factors") or {}).values()
        ):
            console.print(
                "† the target at this size had to be upsampled from a smaller source: no ground truth."
            )
    console.print(f"run folder: {out_dir} (metrics.json, config.yaml, pictures, checkpoints/)")
    wandb_dir = Path(out_dir) / "wandb"
    if wandb_dir.is_dir():
        console.print(f"W&B offline run files: {wandb_dir} (upload: wandb sync {wandb_dir}/offline-run-*)")
    return console.file.getvalue().rstrip()
