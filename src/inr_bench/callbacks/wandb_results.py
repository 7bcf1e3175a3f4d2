"""Weights & Biases for one job: the run's results at its end, and closing the run.

The scalars reach W&B as the run goes, through Lightning's logging (`train/loss`, `eval/*`;
see callbacks/evaluation.py). At the end `WandbResultsCallback` adds the final and best figures
to the run summary (`final/*`, `best/*`: what a W&B sweep optimises) and the pictures the run
wrote (reconstruction, comparison with the log-amplitude spectra, loss curve). `finish_run`
closes the job's run whatever happened, so jobs of a sweep that share a worker process never
share a run. Offline unless WANDB_MODE=online: the run files land in <output_dir>/wandb/.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import lightning as L

from inr_bench.record import RunRecord

# Pictures a run may write (see the DataModules' save_outputs), under the keys W&B shows them.
MEDIA = {
    "reconstruction": ("reconstruction.png", "the fitted signal"),
    "ground_truth": ("ground_truth.png", "the target signal"),
    "spectrum": ("comparison.png", "images, error map and log-amplitude spectra |FFT|"),
    "loss_curve": ("loss_curve.png", "training loss (MSE) per step"),
}


def wandb_loggers(loggers) -> list:
    return [logger for logger in loggers or [] if type(logger).__name__ == "WandbLogger"]


def _finite(metrics: dict | None) -> dict:
    return {
        key: float(value)
        for key, value in (metrics or {}).items()
        if isinstance(value, (int, float)) and math.isfinite(float(value))
    }


class WandbResultsCallback(L.Callback):
    """Final/best summary and pictures into each W&B run of the trainer (after the outputs)."""

    def __init__(self, record: RunRecord, out_dir: str | Path) -> None:
        super().__init__()
        self.record, self.out_dir = record, Path(out_dir)

    def on_train_end(self, trainer, pl_module) -> None:
        for logger in wandb_loggers(trainer.loggers):
            run = logger.experiment
            if not hasattr(run, "log"):  # not rank zero: a dummy experiment
                continue
            import wandb

            final = self.record.evals[-1] if self.record.evals else None
            run.summary.update({f"final/{key}": value for key, value in _finite(final).items()})
            run.summary.update({f"best/{key}": value for key, value in _finite(self.record.best).items()})
            run.summary.update({"status": self.record.status})
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
