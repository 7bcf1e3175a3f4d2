"""The LightningModule that fits one signal with any coordinate network.

Full-batch gradient descent, one optimiser step per training step. The loss of a chunk is its
summed squared error divided by the number of values in the *whole* signal, so gradients
accumulated over chunks (and summed over DDP processes) equal the full-batch MSE gradient.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import lightning as L
import torch
from torch import nn

from inr_bench.errors import NonFiniteLossError

OptimizerFactory = Callable[..., torch.optim.Optimizer]


def _all_finite(tensors) -> bool:
    """True when every given tensor (None skipped) holds only finite numbers: one host sync."""
    flags = [torch.isfinite(t).all() for t in tensors if t is not None]
    return bool(torch.stack(flags).all()) if flags else True


class INRFitModule(L.LightningModule):
    """Wraps a network (coords -> values) and its optimiser; knows nothing of Hydra or data."""

    def __init__(self, net: nn.Module, optimizer: OptimizerFactory, chunk_size: int | None = None) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.chunk_size = chunk_size
        self.automatic_optimization = False  # we accumulate chunks ourselves, exactly

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.net(coords)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.net.parameters())

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

    def training_step(self, batch: dict, batch_index: int) -> dict:
        coords, values, total = batch["coords"], batch["values"], int(batch["total"])
        world = self.trainer.world_size
        # DDP averages gradients over processes; scaling by `world` turns that into a sum.
        scale = world / (total * values.shape[-1])
        optimizer = self.optimizers()
        optimizer.zero_grad(set_to_none=True)
        chunk = self.chunk_size or coords.shape[0]
        pieces = list(zip(torch.split(coords, chunk), torch.split(values, chunk), strict=True))
        squared_error = torch.zeros((), dtype=torch.float64, device=coords.device)
        predictions = []
        for number, (chunk_coords, chunk_values) in enumerate(pieces):
            with self._backward_sync(number == len(pieces) - 1):
                pred = self.net(chunk_coords)
                chunk_error = (pred - chunk_values).pow(2).sum()
                self.manual_backward(chunk_error * scale)
            squared_error += chunk_error.detach().double()
            predictions.append(pred.detach())
        if world > 1:
            squared_error = self.trainer.strategy.reduce(squared_error, reduce_op="sum")
        loss = float(squared_error) / (total * values.shape[-1])
        if not torch.isfinite(torch.tensor(loss)):
            # Stop before the update: the parameters (and last checkpoint) stay finite.
            raise NonFiniteLossError(
                f"The training loss became {loss} at step {self.global_step + 1}; the run was stopped "
                f"before the update. Try a lower learning rate (model.optimizer.lr), another damping "
                f"function, or float32 precision."
            )
        # A finite loss can still give an overflowing gradient: that update would write NaN or
        # infinite parameters, and the next checkpoint would keep them. Stop before it too.
        if not _all_finite(p.grad for p in self.net.parameters()):
            raise NonFiniteLossError(
                f"The gradient became NaN or infinite at step {self.global_step + 1} (the loss was "
                f"{loss:.6g}); the run was stopped before the update. Try a lower learning rate "
                f"(model.optimizer.lr) or another damping function."
            )
        optimizer.step()
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=1)
        return {
            "loss": torch.tensor(loss),
            "loss_value": loss,
            "pred": torch.cat(predictions) if world == 1 else None,
        }
