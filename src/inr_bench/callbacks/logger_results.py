"""What the loggers show: evaluations and pictures as the run goes, results at its end.

- `log_evaluation`: every evaluation's `eval/*` scalars into every logger of the trainer (CSV,
  TensorBoard, W&B) against the number of updates the evaluated parameters had, and the
  reconstruction and its log-amplitude spectrum as pictures into TensorBoard and W&B.
  (Through `LightningModule.log`, Lightning would file them under the count of batches finished
  before this one, one step early.) `train/loss`, `train/lr` and the per-step `train/rho_ag` go
  through `self.log` in the module and the evaluation callback.
- `LoggerResultsCallback`: at the end, the final and best figures into W&B's run summary
  (`final/*`, `best/*`: what a W&B sweep optimises) with the run's pictures, and into
  TensorBoard's hparams view (the run's settings beside `final/*` and `best/*`).
- `finish_run`: closes the job's W&B run whatever happened, so jobs of a sweep that share a
  worker process never share a run. Offline unless WANDB_MODE=online: the run files land in
  <output_dir>/wandb/.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import lightning as L
import numpy as np

from inr_bench.record import RunRecord

# Pictures a run may write (see the DataModules' save_outputs), under the keys W&B shows them.
MEDIA = {
    "reconstruction": ("reconstruction.png", "the fitted signal"),
    "ground_truth": ("ground_truth.png", "the target signal"),
    "spectrum": ("comparison.png", "images, error map and log-amplitude spectra |FFT|"),
    "loss_curve": ("loss_curve.png", "training loss (MSE) per step"),
}


def _kind(logger) -> str:
    return type(logger).__name__


def _finite(metrics: dict | None, prefix: str = "") -> dict:
    return {
        f"{prefix}{key}": float(value)
        for key, value in (metrics or {}).items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))
    }


def log_evaluation(trainer: L.Trainer, metrics: dict, pictures: dict[str, np.ndarray]) -> None:
    """One evaluation into every logger (see the module docstring)."""
    if not trainer.is_global_zero:
        return
    step = trainer.global_step
    scalars = _finite({k: v for k, v in metrics.items() if k != "step"}, "eval/")
    for logger in trainer.loggers:
        logger.log_metrics(scalars, step=step)
        for name, picture in pictures.items():
            if _kind(logger) == "TensorBoardLogger":
                logger.experiment.add_image(
                    f"eval/{name}", picture, step, dataformats="HW" if picture.ndim == 2 else "HWC"
                )
            elif _kind(logger) == "WandbLogger" and hasattr(logger.experiment, "log"):
                logger.log_image(key=f"eval/{name}", images=[picture], step=step)


class LoggerResultsCallback(L.Callback):
    """Final and best figures (and W&B's pictures) at the end of the run, after the outputs."""

    def __init__(self, record: RunRecord, out_dir: str | Path) -> None:
        super().__init__()
        self.record, self.out_dir = record, Path(out_dir)

    def results(self) -> dict:
        final = self.record.as_json()["final"]
        return {
            **_finite({k: v for k, v in (final or {}).items() if k != "step"}, "final/"),
            **_finite(self.record.best, "best/"),
        }

    def on_train_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        results = self.results()
        for logger in trainer.loggers:
            if _kind(logger) == "TensorBoardLogger":
                logger.log_hyperparams(pl_module.hparams, metrics=results)
            elif _kind(logger) == "WandbLogger" and hasattr(logger.experiment, "log"):
                import wandb

                run = logger.experiment
                run.summary.update({**results, "status": self.record.status})
                images = {
                    f"media/{key}": wandb.Image(str(self.out_dir / name), caption=caption)
                    for key, (name, caption) in MEDIA.items()
                    if (self.out_dir / name).is_file()
                }
                if images:
                    run.log(images)


def finish_run(failed: bool) -> None:
    """Close the W&B run this process has open, if any (marked failed when the job failed)."""
    wandb = sys.modules.get("wandb")
    if wandb is None or getattr(wandb, "run", None) is None:
        return
    wandb.finish(exit_code=1 if failed else 0)
