"""The pictures and files at the end of a run: the modality's own (reconstruction, spectra,
sounds, frames; the DataModule's `save_outputs`) and the loss curve."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from inr_bench.record import RunRecord
from inr_bench.visualize import plot_loss_curve


class OutputsCallback(L.Callback):
    def __init__(self, record: RunRecord, out_dir: str | Path, eval_chunk_size: int | None = None) -> None:
        super().__init__()
        self.record, self.out_dir, self.eval_chunk_size = record, Path(out_dir), eval_chunk_size

    def on_train_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        datamodule = trainer.datamodule
        pred = pl_module.predict_points(datamodule.coords, self.eval_chunk_size)
        datamodule.save_outputs(pred, self.out_dir, self.record.evals[-1] if self.record.evals else None)
        if self.record.loss_curve:
            steps, losses = zip(*self.record.loss_curve, strict=True)
            title = f"{self.record.label or self.record.model} on {self.record.data}"
            plot_loss_curve(list(steps), list(losses), self.out_dir / "loss_curve.png", title)
