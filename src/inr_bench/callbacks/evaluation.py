"""Evaluation of the whole signal at fixed steps, and per-step tracking, into the run record.

After the optimiser steps listed in `eval_steps` (and the last one) the whole signal is
predicted and scored: loss, PSNR (both conventions), SSIM and rho_AG go into the record's
"evals" and into every logger as `eval/*` against the optimiser step, with the reconstruction
and its spectrum as pictures (callbacks/logger_results.py), so the CSV logger, TensorBoard and
W&B all show them as the run goes. Every training step also feeds the
record's loss curve and best-so-far figures (the per-step rho_AG from the step's own
predictions, through the `RhoAG` metric): the loss a step computes belongs to the parameters
before its update, hence `step - 1`.
"""

from __future__ import annotations

import lightning as L
import torch

from inr_bench.callbacks.logger_results import log_evaluation
from inr_bench.metrics import RhoAG, evaluate_signal
from inr_bench.record import RunRecord
from inr_bench.visualize import evaluation_pictures


class EvaluationCallback(L.Callback):
    def __init__(
        self,
        record: RunRecord,
        eval_steps: list[int],
        rho_variant: str = "reference",
        eval_chunk_size: int | None = None,
        track_rho_every_step: bool = True,
    ) -> None:
        super().__init__()
        self.record = record
        self.eval_steps = {int(step) for step in eval_steps}
        self.rho_variant = rho_variant
        self.eval_chunk_size = eval_chunk_size
        self.track_rho_every_step = track_rho_every_step
        self.last_metrics: dict | None = None
        self._rho: RhoAG | None = None

    def _is_eval_step(self, trainer: L.Trainer) -> bool:
        return trainer.global_step in self.eval_steps or trainer.global_step == trainer.max_steps

    def _step_rho(self, pred, values, datamodule) -> float | None:
        """rho_AG of the step's predictions of the whole signal (None for a shard of it)."""
        if pred is None or values.shape[0] != datamodule.num_points:
            return None
        if self._rho is None:
            self._rho = RhoAG(datamodule.coord_dim, self.rho_variant).to(pred.device)
        shape = (*datamodule.signal_shape, -1)
        self._rho.reset()
        self._rho.update(pred.reshape(shape), values.reshape(shape))
        return float(self._rho.compute())

    def evaluate(self, pl_module, datamodule) -> tuple[dict, torch.Tensor]:
        """The metrics of the whole signal predicted now (in chunks of `eval_chunk_size` points),
        and the prediction."""
        pred = pl_module.predict_points(datamodule.coords, self.eval_chunk_size)
        metrics = evaluate_signal(
            pred, datamodule.values, datamodule.signal_shape, datamodule.data_range, self.rho_variant
        )
        return metrics, pred

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_index) -> None:
        datamodule = trainer.datamodule
        step_before_update = trainer.global_step - 1
        loss = outputs["loss_value"]
        rho = (
            self._step_rho(outputs.get("pred"), batch["values"], datamodule)
            if self.track_rho_every_step
            else None
        )
        self.record.add_curve_point(step_before_update, loss)
        self.record.observe(step_before_update, loss, rho)
        if rho is not None:
            pl_module.log("train/rho_ag", rho, on_step=True, on_epoch=False, batch_size=1)
        if self._is_eval_step(trainer):
            self.last_metrics, pred = self.evaluate(pl_module, datamodule)
            self.record.add_eval(trainer.global_step, self.last_metrics)
            # for the progress bar only (callbacks/progress.py); the loggers get eval/* below
            for key, value in (("psnr", self.last_metrics["psnr"]), ("psnr_step", trainer.global_step)):
                pl_module.log(
                    key, float(value), prog_bar=True, logger=False, on_step=True, on_epoch=False, batch_size=1
                )
            if trainer.loggers and trainer.is_global_zero:
                log_evaluation(trainer, self.last_metrics, evaluation_pictures(datamodule.signal_array(pred)))
