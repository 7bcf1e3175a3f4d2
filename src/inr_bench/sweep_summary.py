"""The summary of a Hydra multirun: every job's overrides and final metrics in one table.

After a multirun, `SweepSummary` (a Hydra callback, registered in conf/hydra/default.yaml)
writes into the sweep folder:
- `summary.csv`: one row per job: job number, status, the swept overrides as columns, final
  step, loss, PSNR, PSNR (paper convention), SSIM, rho_AG, best loss, reason, all overrides;
- `summary.md`: the same as a table, with the overrides common to all jobs stated once;
- `summary.png`: every job's training-loss curve on a log scale (for `delta=...` sweeps on the
  cameraman this is the paper's damping ablation, its Fig. 20) beside the final PSNRs.
A job is `ok` only when its metrics.json says so; a job whose metrics.json says `failed`, is
missing, still says `running` after the sweep ended, or whose folder was never made is
`failed`, with the reason. Re-run it on any sweep folder (during a sweep, `--running` shows
unfinished jobs as `running`): `python -m inr_bench.sweep_summary multirun/<date>/<time>`.

The callback also prints one line per finished job and closes a W&B run a job left open.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from inr_bench.atomic import write_text_atomic
from inr_bench.record import RunRecord

log = logging.getLogger("inr_bench")

METRICS = ("loss", "psnr", "psnr_paper", "ssim", "rho_ag")


@dataclass
class JobResult:
    num: int
    folder: Path | None
    overrides: list[str]
    status: str  # "ok", "failed" or (while a sweep runs) "running"
    reason: str | None = None
    final: dict = field(default_factory=dict)
    best: dict = field(default_factory=dict)

    @property
    def override_map(self) -> dict[str, str]:
        return dict(split_override(item) for item in self.overrides)


def split_override(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


# --- what the sweep was asked to run --------------------------------------------------------


def sweep_arguments(sweep_cfg: DictConfig) -> list[str]:
    """The sweep's overrides as the basic sweeper sees them: hydra.sweeper.params, then the
    command line."""
    params = OmegaConf.select(sweep_cfg, "hydra.sweeper.params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    return arguments + list(OmegaConf.select(sweep_cfg, "hydra.overrides.task") or [])


def _parser():
    """Hydra's override parser, able to expand `glob(*)` over a config group while Hydra runs."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    hydra = GlobalHydra.instance()
    return OverridesParser.create(config_loader=hydra.config_loader() if hydra.is_initialized() else None)


def expected_jobs(sweep_cfg: DictConfig) -> list[list[str]] | None:
    """Every job's override list, in job-number order, for Hydra's basic sweeper; None for
    other sweepers (Optuna, ...), whose jobs are only known from their folders."""
    target = str(OmegaConf.select(sweep_cfg, "hydra.sweeper._target_") or "")
    if not target.endswith("BasicSweeper"):
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    try:
        overrides = _parser().parse_overrides(sweep_arguments(sweep_cfg))
        batches = BasicSweeper.split_arguments(overrides, None)
    except Exception as error:  # a sweep syntax this reading does not cover: fall back on folders
        log.warning("could not list the sweep's jobs (%s); summarising the job folders found", error)
        return None
    return [job for batch in batches for job in batch]


def swept_keys(sweep_cfg: DictConfig) -> list[str]:
    """The override keys that take several values in this sweep."""
    try:
        overrides = _parser().parse_overrides(sweep_arguments(sweep_cfg))
    except Exception:
        return []
    return [override.get_key_element().lstrip("+~") for override in overrides if override.is_sweep_override()]


# --- what the jobs left behind --------------------------------------------------------------


def _job_number(folder: Path) -> int | None:
    hydra_yaml = folder / ".hydra" / "hydra.yaml"
    if hydra_yaml.is_file():
        try:
            number = OmegaConf.select(OmegaConf.load(hydra_yaml), "hydra.job.num")
            if number is not None:
                return int(number)
        except Exception:
            pass
    return int(folder.name) if folder.name.isdigit() else None


def job_folders(sweep_dir: Path) -> dict[int, Path]:
    """Job number -> folder, for every folder under the sweep that Hydra ran a job in."""
    folders = {}
    for overrides in sorted(sweep_dir.glob("**/.hydra/overrides.yaml")):
        folder = overrides.parent.parent
        number = _job_number(folder)
        if number is not None and folder != sweep_dir:
            folders.setdefault(number, folder)
    return folders


def read_job(num: int, folder: Path | None, overrides: list[str] | None, sweep_finished: bool) -> JobResult:
    if folder is None:
        if not sweep_finished:
            return JobResult(num, None, overrides or [], "running", "not started yet")
        return JobResult(num, None, overrides or [], "failed", "the job never started (no job folder)")
    if overrides is None:
        overrides = [str(item) for item in OmegaConf.load(folder / ".hydra" / "overrides.yaml")]
    metrics_path = folder / "metrics.json"
    if not metrics_path.is_file():
        reason = "no metrics.json: the job stopped before training"
        return JobResult(num, folder, overrides, "failed" if sweep_finished else "running", reason)
    try:
        metrics = json.loads(metrics_path.read_text())
    except ValueError as error:
        return JobResult(num, folder, overrides, "failed", f"unreadable metrics.json ({error})")
    status, reason = metrics.get("status", "failed"), metrics.get("reason")
    if status == "running" and sweep_finished:
        status, reason = "failed", "the job ended while its metrics.json still said running"
    elif status not in ("ok", "running"):
        status = "failed"
    return JobResult(
        num, folder, overrides, status, reason, metrics.get("final") or {}, metrics.get("best") or {}
    )


def collect(
    sweep_dir: Path, expected: list[list[str]] | None = None, sweep_finished: bool = True
) -> list[JobResult]:
    """One JobResult per job: the expected ones (missing folders marked failed) and any other
    job folder found."""
    folders = job_folders(sweep_dir)
    numbers = sorted(set(folders) | set(range(len(expected or []))))
    results = []
    for num in numbers:
        overrides = expected[num] if expected and num < len(expected) and num not in folders else None
        results.append(read_job(num, folders.get(num), overrides, sweep_finished))
    return results


# --- the summary files ----------------------------------------------------------------------


def varying_keys(results: list[JobResult], swept: list[str] = ()) -> list[str]:
    """Swept keys first, then any other key whose value differs between jobs."""
    keys = list(dict.fromkeys(key for result in results for key in result.override_map))
    varying = [key for key in keys if len({result.override_map.get(key) for result in results}) > 1]
    return list(dict.fromkeys([key for key in swept if key in keys] + varying))


def _number(value: Any, digits: str) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    return format(value, digits)


def _relative(folder: Path | None, sweep_dir: Path) -> str:
    if folder is None:
        return ""
    try:
        return str(folder.relative_to(sweep_dir))
    except ValueError:
        return str(folder)


def summary_csv(results: list[JobResult], keys: list[str], sweep_dir: Path) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["job", "status", *keys, "step", *METRICS, "best_loss", "reason", "overrides", "folder"])
    for result in results:
        overrides = result.override_map
        writer.writerow(
            [
                result.num,
                result.status,
                *(overrides.get(key, "") for key in keys),
                result.final.get("step", ""),
            ]
            + [result.final.get(name, "") if result.final.get(name) is not None else "" for name in METRICS]
            + [result.best.get("loss") or "", result.reason or "", " ".join(result.overrides)]
            + [_relative(result.folder, sweep_dir)]
        )
    return buffer.getvalue()


def summary_markdown(sweep_dir: Path, results: list[JobResult], keys: list[str]) -> str:
    counts = {
        status: sum(result.status == status for result in results) for status in ("ok", "failed", "running")
    }
    common = [item for item in results[0].overrides if split_override(item)[0] not in keys] if results else []
    lines = [
        f"# Sweep summary: {sweep_dir}",
        "",
        f"{len(results)} jobs: "
        + ", ".join(f"{count} {status}" for status, count in counts.items() if count)
        + ".",
        f"Common overrides: `{' '.join(common)}`" if common else "No common overrides.",
        "Final metrics of each job (metrics.json `final`); PSNR = 10 log10(range^2 / MSE), "
        "rho_AG = cosine similarity of the amplitude spectra.",
        "",
        "| job | " + " | ".join(keys) + " | status | step | loss | PSNR (dB) | SSIM | rho_AG | reason |",
        "|---" * (len(keys) + 8) + "|",
    ]
    for result in results:
        values = result.override_map
        final = result.final
        reason = (result.reason or "").replace("|", "/").replace("\n", " ")
        reason = reason if len(reason) <= 120 else reason[:117] + "..."
        cells = [str(result.num), *(f"`{values.get(key, '')}`" for key in keys), f"**{result.status}**"]
        cells += [
            str(final.get("step", "-")),
            _number(final.get("loss"), ".3e"),
            _number(final.get("psnr"), ".2f"),
        ]
        cells += [_number(final.get("ssim"), ".4f"), _number(final.get("rho_ag"), ".5f"), reason]
        lines.append("| " + " | ".join(cells) + " |")
    ok = [result for result in results if result.status == "ok" and result.final.get("psnr") is not None]
    if ok:
        best = max(ok, key=lambda result: result.final["psnr"])
        label = " ".join(f"{key}={best.override_map.get(key)}" for key in keys) or f"job {best.num}"
        lines += ["", f"Best final PSNR: {best.final['psnr']:.2f} dB ({label})."]
    return "\n".join(lines) + "\n"


def read_loss_curve(folder: Path | None) -> tuple[list[int], list[float]]:
    path = folder / "loss_curve.csv" if folder is not None else None
    if path is None or not path.is_file():
        return [], []
    steps, losses = [], []
    with path.open() as stream:
        for row in csv.DictReader(stream):
            loss = float(row["loss"])
            if math.isfinite(loss) and loss > 0:
                steps.append(int(row["step"]))
                losses.append(loss)
    return steps, losses


def plot_summary(sweep_dir: Path, results: list[JobResult], keys: list[str], path: Path) -> Path:
    """Training-loss curves per job (log scale) and the final PSNR per job."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def label(result: JobResult) -> str:
        text = " ".join(f"{key}={result.override_map.get(key)}" for key in keys) or f"job {result.num}"
        return text if result.status == "ok" else f"{text} ({result.status})"

    figure, (curves, bars) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    for result in results:
        steps, losses = read_loss_curve(result.folder)
        if steps:
            style = "-" if result.status == "ok" else ":"
            curves.plot(steps, losses, style, linewidth=1.4, label=label(result))
    curves.set_yscale("log")
    curves.set_xlabel("step")
    curves.set_ylabel("training loss (MSE, log scale)")
    curves.set_title("Training loss per job")
    curves.grid(True, which="both", alpha=0.3)
    if curves.lines:
        curves.legend(fontsize=8)
    names = [label(result) for result in results]
    psnrs = [result.final.get("psnr") if result.status == "ok" else None for result in results]
    heights = [value if isinstance(value, (int, float)) and math.isfinite(value) else 0.0 for value in psnrs]
    shown = bars.barh(range(len(results)), heights, color=["tab:blue" if h else "tab:red" for h in heights])
    bars.bar_label(shown, labels=[f"{h:.1f}" if h else "failed" for h in heights], fontsize=8, padding=2)
    bars.set_yticks(range(len(results)), names, fontsize=8)
    bars.invert_yaxis()
    bars.set_xlabel("final PSNR (dB)")
    bars.set_title("Final PSNR")
    figure.suptitle(str(sweep_dir), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_summary(
    sweep_dir: str | Path,
    expected: list[list[str]] | None = None,
    swept: list[str] = (),
    sweep_finished: bool = True,
    plot: bool = True,
) -> list[JobResult]:
    """summary.csv, summary.md and summary.png in `sweep_dir`; returns the job results."""
    sweep_dir = Path(sweep_dir)
    results = collect(sweep_dir, expected, sweep_finished)
    keys = varying_keys(results, swept)
    write_text_atomic(sweep_dir / "summary.csv", summary_csv(results, keys, sweep_dir))
    write_text_atomic(sweep_dir / "summary.md", summary_markdown(sweep_dir, results, keys))
    if plot and results:
        try:
            plot_summary(sweep_dir, results, keys, sweep_dir / "summary.png")
        except Exception as error:  # the tables matter more than the picture
            log.warning("summary.png was not drawn: %s: %s", type(error).__name__, error)
    return results


# --- the job side ---------------------------------------------------------------------------


def mark_job_failed(cfg: DictConfig, error: BaseException) -> None:
    """Record a failed sweep job in its metrics.json (status "failed", reason), keeping what
    the run already wrote; for errors raised before training, there is nothing yet."""
    try:
        out_dir = Path(cfg.paths.output_dir)
        record = RunRecord.read(out_dir) or RunRecord(
            model=OmegaConf.select(cfg, "model.name"),
            label=OmegaConf.select(cfg, "model.label"),
            delta=OmegaConf.select(cfg, "model.damping"),
            data=OmegaConf.select(cfg, "data.name"),
        )
        if record.status != "failed":
            record.fail(error)
        record.write(out_dir)
    except Exception as problem:  # never hide the job's own error behind this one
        log.warning("could not record the failure in metrics.json: %s", problem)


def job_line(num: int, overrides: dict[str, str], folder: Path) -> str:
    """'[inr_bench] job 3: delta=log -> psnr 31.20 dB (ok)'."""
    name = " ".join(f"{key}={value}" for key, value in overrides.items()) or "(no overrides)"
    result = read_job(num, folder, [], sweep_finished=True)
    if result.status == "ok":
        return f"[inr_bench] job {num}: {name} -> psnr {_number(result.final.get('psnr'), '.2f')} dB (ok)"
    return f"[inr_bench] job {num}: {name} -> {result.status}: {result.reason}"


class SweepSummary(Callback):
    """Hydra callback: a line per finished job, the summary files when a multirun ends."""

    def __init__(self, plot: bool = True) -> None:
        self.plot = plot

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from hydra.core.utils import JobStatus

        from inr_bench.callbacks.logger_results import finish_run

        completed = job_return.status == JobStatus.COMPLETED
        value = job_return.return_value if completed else None
        failed = not completed or (isinstance(value, float) and math.isnan(value))
        finish_run(failed=failed)  # a W&B run left open would carry over into the next job
        if OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN:
            return
        try:
            sweep_cfg = OmegaConf.load(Path(config.hydra.sweep.dir) / "multirun.yaml")
            keys = swept_keys(sweep_cfg)
        except Exception:
            keys = []
        overrides = dict(split_override(item) for item in config.hydra.overrides.task)
        shown = {key: value for key, value in overrides.items() if key in keys} if keys else overrides
        print(job_line(int(config.hydra.job.num), shown, Path(config.hydra.runtime.output_dir)), flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            results = write_summary(sweep_dir, expected_jobs(config), swept_keys(config), plot=self.plot)
        except Exception as error:  # the jobs are done and their folders intact: do not fail the sweep now
            log.warning(
                "no sweep summary (%s: %s); redo it with `python -m inr_bench.sweep_summary %s`",
                type(error).__name__,
                error,
                sweep_dir,
            )
            return
        failed = sum(result.status != "ok" for result in results)
        print(
            f"[inr_bench] sweep summary ({len(results)} jobs, {failed} failed): {sweep_dir / 'summary.md'}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inr_bench.sweep_summary",
        description="Write summary.md, summary.csv and summary.png for a Hydra multirun folder.",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sweep folder (multirun/<date>/<time>)")
    parser.add_argument("--no-plot", action="store_true", help="tables only")
    parser.add_argument(
        "--running",
        action="store_true",
        help="the sweep is still going: unfinished jobs show as running instead of failed",
    )
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"[inr_bench] error: no folder {args.sweep_dir}", file=sys.stderr)
        return 2
    multirun_yaml = args.sweep_dir / "multirun.yaml"
    sweep_cfg = OmegaConf.load(multirun_yaml) if multirun_yaml.is_file() else None
    expected = expected_jobs(sweep_cfg) if sweep_cfg is not None else None
    swept = swept_keys(sweep_cfg) if sweep_cfg is not None else []
    write_summary(args.sweep_dir, expected, swept, sweep_finished=not args.running, plot=not args.no_plot)
    print((args.sweep_dir / "summary.md").read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
