"""metrics.json of a run, written by the run as it goes (the record itself: inr_bench/record.py).

The record is written after every evaluation (status "running") and, once the task and the
pictures are done, with status "ok" at the end; a failure is written by train(), which also
says what the user sees. The record is part of the checkpoint, so a resumed run continues the
same record (the settings of the resumed run win: a resume may extend max_steps).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L

from inr_bench.record import RunRecord


class RecordCallback(L.Callback):
    def __init__(self, record: RunRecord, out_dir: str | Path) -> None:
        super().__init__()
        self.record = record
        self.out_dir = Path(out_dir)
        self._written_evals = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_index) -> None:
        if len(self.record.evals) != self._written_evals and trainer.is_global_zero:
            self._written_evals = len(self.record.evals)
            self.record.write(self.out_dir)

    def on_train_end(self, trainer, pl_module) -> None:
        self.record.status = "ok"
        if trainer.is_global_zero:
            self.record.write(self.out_dir)

    def state_dict(self) -> dict:
        return {"record": self.record.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        info = dict(self.record.info)
        self.record.load_state_dict(state_dict["record"])
        self.record.info.update(info)
