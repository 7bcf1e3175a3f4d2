"""The downstream task after the fit (super-resolution, interpolation, gradients): its results
go into the run record under "task". The plain fit's task does nothing."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from inr_bench.record import RunRecord


class TaskCallback(L.Callback):
    def __init__(self, task, record: RunRecord, out_dir: str | Path, rho_variant: str = "reference") -> None:
        super().__init__()
        self.task, self.record, self.out_dir, self.rho_variant = task, record, Path(out_dir), rho_variant

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.record.task = self.task.run(pl_module, trainer.datamodule, self.out_dir, self.rho_variant)
