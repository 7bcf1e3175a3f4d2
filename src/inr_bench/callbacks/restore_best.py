"""`restore_best=true`: the fit ends on its lowest-loss parameters, not on the last update's.

Adam at a constant rate makes SPDER's loss spike now and again near float32's floor, so the
last step can land in a spike (REPRODUCTION.md, "Beyond the paper: training recipes"). The
fitting step keeps the lowest-loss parameters; at the end of training this callback, the first
of the run's callbacks, puts them back and evaluates them, so the task, the pictures and
metrics.json (`restored_best`, which becomes `final`) all use that state, recorded as such.
"""

from __future__ import annotations

import lightning as L

from inr_bench.metrics import evaluate_signal
from inr_bench.record import RunRecord


class RestoreBestCallback(L.Callback):
    def __init__(
        self, record: RunRecord, rho_variant: str = "reference", eval_chunk_size: int | None = None
    ) -> None:
        super().__init__()
        self.record, self.rho_variant, self.eval_chunk_size = record, rho_variant, eval_chunk_size

    def on_train_end(self, trainer, pl_module) -> None:
        last = self.record.evals[-1] if self.record.evals else None
        updates = pl_module.fit_step().restore_best({0: last["loss"]} if last else None).get(0)
        if updates is None:  # the last update's state is the lowest-loss one: keep it
            if last is not None:
                self.record.restored_best = {**last, "restored_best": True}
            return
        datamodule = trainer.datamodule
        pred = pl_module.predict_points(datamodule.coords, self.eval_chunk_size)
        metrics = evaluate_signal(
            pred, datamodule.values, datamodule.signal_shape, datamodule.data_range, self.rho_variant
        )
        self.record.restored_best = {"step": updates, **metrics, "restored_best": True}
