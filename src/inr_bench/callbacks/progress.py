"""The progress bar of a run: the optimiser step out of `trainer.max_steps`, the loss in
scientific notation, and the PSNR of the last evaluation.

Lightning's bar counts batches of an epoch ("Epoch 0/-2" for a run bounded by steps, and a
count that restarts on resume) and shows the logger's version; a fit here is one long epoch of
full-batch steps, so the bar counts optimiser steps from `trainer.global_step`, which a resumed
run continues from. SPDER's losses span 1e-1 to 1e-9: three decimals would read 0.000.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar


class StepProgressBar(RichProgressBar):
    @property
    def total_train_batches(self) -> int:
        return int(self.trainer.max_steps)

    def _get_train_description(self, current_epoch: int) -> str:
        return "fitting"

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        # A resumed run starts where its checkpoint left off.
        self._update(self.train_progress_bar_id, trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.is_disabled and self.train_progress_bar_id is None:
            self._initialize_train_progress_bar_id()
        self._update(self.train_progress_bar_id, trainer.global_step)
        self._update_metrics(trainer, pl_module)
        self.refresh()

    def get_metrics(self, trainer, pl_module) -> dict:
        logged = super().get_metrics(trainer, pl_module)
        shown = {}
        if "train/loss" in logged:
            shown["loss"] = f"{float(logged['train/loss']):.3e}"
        if "psnr" in logged:
            step = logged.get("psnr_step")
            at = f" @ step {int(step)}" if step is not None else ""
            shown["PSNR"] = f"{float(logged['psnr']):.2f} dB{at}"
        return shown
