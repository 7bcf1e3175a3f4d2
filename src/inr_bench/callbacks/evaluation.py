"""Evaluation of the whole signal at fixed steps, written to metrics.json as the run goes."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from inr_bench.metrics import evaluate_signal, rho_ag
from inr_bench.results import RunRecord


class EvaluationCallback(L.Callback):
    """After the optimiser steps listed in `eval_steps` (and the last one): full-signal loss,
    PSNR, SSIM and rho_AG into `record`, which is written to `out_dir/metrics.json`.

    Every training step also feeds the record's loss curve and best-so-far figures: the
    loss a step computes belongs to the parameters before its update, hence `step - 1`.
    The record is part of the checkpoint, so a resumed run continues the same record.
    """

    def __init__(
        self,
        record: RunRecord,
        out_dir: str | Path,
        eval_steps: list[int],
        rho_variant: str = "reference",
        eval_chunk_size: int | None = None,
        track_rho_every_step: bool = True,
    ) -> None:
        super().__init__()
        self.record = record
        self.out_dir = Path(out_dir)
        self.eval_steps = set(int(step) for step in eval_steps)
        self.rho_variant = rho_variant
        self.eval_chunk_size = eval_chunk_size
        self.track_rho_every_step = track_rho_every_step
        self.last_metrics: dict | None = None

    def _is_eval_step(self, trainer: L.Trainer) -> bool:
        return trainer.global_step in self.eval_steps or trainer.global_step == trainer.max_steps

    def evaluate(self, pl_module: L.LightningModule, datamodule) -> tuple[dict, torch.Tensor]:
        pred = pl_module.predict_points(datamodule.coords, self.eval_chunk_size)
        metrics = evaluate_signal(
            pred, datamodule.values, datamodule.signal_shape, datamodule.data_range, self.rho_variant
        )
        return metrics, pred

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_index) -> None:
        datamodule = trainer.datamodule
        step_before_update = trainer.global_step - 1
        loss = outputs["loss_value"]
        rho = None
        if (
            self.track_rho_every_step
            and outputs.get("pred") is not None
            and batch["values"].shape[0] == datamodule.num_points
        ):
            shape = (*datamodule.signal_shape, -1)
            rho = float(
                rho_ag(
                    outputs["pred"].reshape(shape),
                    batch["values"].reshape(shape),
                    datamodule.coord_dim,
                    self.rho_variant,
                )
            )
        self.record.add_curve_point(step_before_update, loss)
        self.record.observe(step_before_update, loss, rho)
        if self._is_eval_step(trainer):
            self.last_metrics, _ = self.evaluate(pl_module, datamodule)
            self.record.add_eval(trainer.global_step, self.last_metrics)
            if trainer.is_global_zero:
                self.record.write(self.out_dir)

    def state_dict(self) -> dict:
        return {"record": self.record.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        info = dict(self.record.info)
        self.record.load_state_dict(state_dict["record"])
        self.record.info.update(info)  # this run's settings win (a resume may extend max_steps)
