"""The LightningModule that fits one signal with any coordinate network.

Full-batch gradient descent, one optimiser step per training step, through the one fitting
step (`fitting/step.py`: exact over chunks and DDP processes, stops before a non-finite update).

A checkpoint describes itself: the module saves the run's resolved config and the signal's
geometry as hyper-parameters, so `INRFitModule.load_from_checkpoint(path)` rebuilds the same
network (through nn/build.py, as training did) from the checkpoint file alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from inr_bench.fitting.step import FitStep
from inr_bench.nn.build import build_network, build_optimizer, build_scheduler


def plain_config(cfg: DictConfig | Mapping) -> dict:
    """A resolved config as plain Python containers (what a checkpoint stores)."""
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    return dict(cfg)


class INRFitModule(L.LightningModule):
    """Fits the network of `config["model"]` (coords -> values) to one signal.

    `config` is the run's resolved config (a DictConfig or the plain dict a checkpoint holds);
    `signal_shape` and `out_features` describe the signal (coordinates have len(signal_shape)
    dimensions, scaled by `coord_scale`); `chunk_size` bounds the points of one forward pass.
    """

    def __init__(
        self,
        config: DictConfig | Mapping,
        signal_shape: Sequence[int],
        out_features: int,
        coord_scale: float = 1.0,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        config = plain_config(config)
        self.save_hyperparameters(
            {
                "config": config,
                "signal_shape": [int(n) for n in signal_shape],
                "out_features": int(out_features),
                "coord_scale": float(coord_scale),
                "chunk_size": chunk_size,
            }
        )
        self.net = build_network(config["model"], len(signal_shape), out_features, signal_shape, coord_scale)
        self.chunk_size = chunk_size
        self.automatic_optimization = False  # the fitting step accumulates chunks itself, exactly
        # `restore_best`: keep the lowest-loss parameters, to end the fit on them
        self.restore_best = bool(config.get("restore_best", False))
        self._step: FitStep | None = None
        self._best_state: dict | None = None  # from a checkpoint, until the step exists

    @property
    def config(self) -> dict:
        return self.hparams["config"]

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.net(coords)

    def configure_optimizers(self):
        optimizer = build_optimizer(self.config["model"], self.net.parameters())
        scheduler = build_scheduler(self.config["model"], optimizer)
        if scheduler is None:
            return optimizer
        # Stepped by the fitting step after every update; Lightning keeps its state in checkpoints.
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    @torch.no_grad()
    def predict_points(self, coords: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """Predictions for any number of coordinates in chunks (bounded memory), on CPU."""
        chunk_size = chunk_size or self.chunk_size or max(coords.shape[0], 1)
        outputs = [self.net(part.to(self.device)).cpu() for part in torch.split(coords, chunk_size)]
        return torch.cat(outputs)

    def _backward_sync(self, is_last_chunk: bool):
        """DDP all-reduces on every backward; with several chunks only the last one should."""
        model = self.trainer.strategy.model if self._trainer is not None else None
        if not is_last_chunk and hasattr(model, "no_sync"):
            return model.no_sync()
        return contextlib.nullcontext()

    def fit_step(self) -> FitStep:
        if self._step is None:
            world = self.trainer.world_size
            self._step = FitStep(
                self.net,
                self.optimizers(),
                chunk_size=self.chunk_size,
                # The predictions of one process's shard are not the whole signal's.
                keep_predictions=world == 1,
                processes=world,
                backward=self.manual_backward,
                sync=self._backward_sync,
                reduce=(lambda t: self.trainer.strategy.reduce(t, reduce_op="sum")) if world > 1 else None,
                scheduler=self.lr_schedulers() or None,
                track_best=self.restore_best,
            )
            if self._best_state is not None:
                self._step.load_best_state(self._best_state)
        return self._step

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.restore_best and self._step is not None:
            checkpoint["best_state"] = self._step.best_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._best_state = checkpoint.get("best_state")

    def training_step(self, batch: dict, batch_index: int) -> dict:
        result = self.fit_step()(
            batch["coords"], batch["values"], total_points=int(batch["total"]), step=self.global_step + 1
        )
        loss = float(result.losses[0])
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=1)
        # the rate this step's update used (the scheduler has moved on to the next one)
        self.log("train/lr", result.lr, on_step=True, on_epoch=False, batch_size=1)
        return {"loss": torch.tensor(loss), "loss_value": loss, "pred": result.predictions}
