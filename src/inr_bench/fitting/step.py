"""The one fitting step: forward, loss over chunks, backward, non-finite checks, update.

Every fit goes through `FitStep`: the single-signal LightningModule (fitting/module.py), K
signals at once (fitting/batched.py) and the speed benchmarks (perf/). A step fits either one
network to one signal (coordinates (N, d), values (N, C)) or K stacked networks to K signals
(`stacked=True`: coordinates (K, N, d) or (N, d), values (K, N, C); every parameter has the
signal on its first axis, as `BatchedCoordinateMLP`'s do).

Exact full-batch gradients. The loss of a chunk is its summed squared error divided by the
number of values of the *whole* signal, so gradients accumulated over chunks of points equal
the full-batch MSE gradient, and so do gradients summed over DDP processes that each hold a
shard (`processes`: DDP averages gradients, the step scales by the process count to make that
a sum; `reduce` sums the squared errors of all processes). For K stacked networks the step
minimises the sum of the K losses; each network's parameters appear in its own loss only, so
each gets exactly its own gradient, and an elementwise optimiser (Adam, SGD) its own update.

Non-finite values stop a fit before its update, so its parameters (and any checkpoint) stay
finite: a single fit raises NonFiniteLossError; among K stacked fits the failed one is frozen
(its gradient zeroed, its parameters put back after the update, since Adam's momentum would
still move them) and the others go on.

With `track_best`, the step keeps a copy of each signal's parameters at its lowest loss so far
(the loss a step computes belongs to the parameters before its update), and `restore_best()`
puts them back: a fit can end on its best state instead of wherever the last update left it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from inr_bench.errors import NonFiniteLossError


@dataclass
class StepResult:
    # The MSE of each signal, (K,) float64 on the CPU (K = 1 for one network), measured on the
    # parameters before this step's update.
    losses: torch.Tensor
    # The step's predictions of all (local) points, or None when not kept.
    predictions: torch.Tensor | None
    # Signals stopped at this step (stacked networks only), with the reason.
    stopped: dict[int, str] = field(default_factory=dict)
    # The learning rate of this step's update (the first parameter group's).
    lr: float = float("nan")


def _split(tensor: torch.Tensor, chunk: int | None) -> tuple[torch.Tensor, ...]:
    """Chunks along the points axis (the second-to-last)."""
    return torch.split(tensor, chunk, dim=-2) if chunk else (tensor,)


class FitStep:
    """One optimiser step of full-batch MSE fitting; call it once per step.

    `backward(loss)` defaults to `loss.backward()` (Lightning passes `manual_backward`);
    `sync(is_last_chunk)` returns a context for each chunk's backward (DDP's `no_sync` on all
    but the last); `reduce(tensor)` sums a tensor over processes (identity for one process).
    `scheduler`, if given, is stepped after every update. With `keep_predictions` the step
    returns the predictions it computed anyway (for the per-step rho_AG), unless they would
    exceed `max_kept_values` numbers.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer,
        *,
        stacked: bool = False,
        chunk_size: int | None = None,
        keep_predictions: bool = True,
        max_kept_values: int = 1 << 24,
        processes: int = 1,
        backward: Callable[[torch.Tensor], None] | None = None,
        sync: Callable[[bool], contextlib.AbstractContextManager] | None = None,
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
        scheduler=None,
        track_best: bool = False,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.stacked = stacked
        self.chunk_size = chunk_size
        self.keep_predictions = keep_predictions
        self.max_kept_values = max_kept_values
        self.processes = processes
        self.backward = backward or (lambda loss: loss.backward())
        self.sync = sync or (lambda is_last: contextlib.nullcontext())
        self.reduce = reduce or (lambda tensor: tensor)
        self.scheduler = scheduler
        self.frozen: dict[int, list[torch.Tensor]] = {}  # stopped signal -> its parameters
        self.track_best = track_best
        # signal -> (lowest loss, updates its parameters had then, those parameters)
        self.best: dict[int, tuple[float, int, list[torch.Tensor]]] = {}
        self.calls = 0

    @property
    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def __call__(
        self,
        coords: torch.Tensor,
        values: torch.Tensor,
        total_points: int | None = None,
        step: int | None = None,
    ) -> StepResult:
        """One step on `values` at `coords`; `total_points` is the whole signal's point count
        when these are one process's shard of it (default: all of `values`); `step`, the number
        of this step (1 for the first), is only used in messages."""
        if self.stacked and coords.ndim == 2:
            coords = coords.unsqueeze(0).expand(values.shape[0], -1, -1)
        total = (total_points or values.shape[-2]) * values.shape[-1]
        scale = self.processes / total
        signal_axes = (-2, -1)  # points and channels: one squared error per signal
        keep = self.keep_predictions and values.numel() <= self.max_kept_values

        self.optimizer.zero_grad(set_to_none=True)
        pieces = list(zip(_split(coords, self.chunk_size), _split(values, self.chunk_size), strict=True))
        squared_error = None
        predictions = []
        for number, (chunk_coords, chunk_values) in enumerate(pieces):
            with self.sync(number == len(pieces) - 1):
                pred = self.model(chunk_coords)
                per_signal = (pred - chunk_values).pow(2).sum(dim=signal_axes)
                self.backward(per_signal.sum() * scale)
            error = per_signal.detach().double()
            squared_error = error if squared_error is None else squared_error + error
            if keep:
                predictions.append(pred.detach())
        squared_error = self.reduce(squared_error)
        losses = (squared_error / total).reshape(-1).cpu()
        stopped = self._stop_non_finite(losses, step)
        self.calls += 1
        if self.track_best:
            self._keep_best(losses, (step if step is not None else self.calls) - 1)
        if self.frozen:
            self._zero_frozen_gradients()
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.optimizer.step()
        if self.frozen:
            self._restore_frozen()
        if self.scheduler is not None:
            self.scheduler.step()
        return StepResult(
            losses=losses,
            predictions=torch.cat(predictions, dim=-2) if keep else None,
            stopped=stopped,
            lr=lr,
        )

    # ---- the lowest-loss state
    def _keep_best(self, losses: torch.Tensor, updates: int) -> None:
        for index, loss in enumerate(losses.tolist()):
            if index in self.frozen or not math.isfinite(loss):
                continue
            if index not in self.best or loss < self.best[index][0]:
                params = [p.detach()[index] if self.stacked else p.detach() for p in self.parameters]
                self.best[index] = (loss, updates, [p.clone() for p in params])

    def restore_best(self, final_losses: dict[int, float] | None = None) -> dict[int, int]:
        """Put each signal's lowest-loss parameters back, unless `final_losses` (the loss of the
        current, last-updated parameters, which no step measured) is lower still; returns, per
        restored signal, the number of updates its parameters had."""
        restored = {}
        with torch.no_grad():
            for index, (loss, updates, saved) in self.best.items():
                if final_losses is not None and final_losses.get(index, math.inf) <= loss:
                    continue
                for param, value in zip(self.parameters, saved, strict=True):
                    (param[index] if self.stacked else param).copy_(value)
                restored[index] = updates
        return restored

    def best_state(self) -> dict:
        """The kept lowest-loss state, for a checkpoint."""
        return {
            index: (loss, updates, [t.cpu() for t in saved])
            for index, (loss, updates, saved) in self.best.items()
        }

    def load_best_state(self, state: dict) -> None:
        device = self.parameters[0].device
        self.best = {
            int(index): (loss, updates, [t.to(device) for t in saved])
            for index, (loss, updates, saved) in state.items()
        }

    # ---- non-finite values
    def _finite_gradients(self, signals: int) -> torch.Tensor:
        """(K,) bool: whether each signal's gradient is finite (one host sync)."""
        grads = [p.grad for p in self.parameters if p.grad is not None]
        if not grads:
            return torch.ones(signals, dtype=torch.bool)
        if not self.stacked:
            return torch.stack([torch.isfinite(g).all() for g in grads]).all().reshape(1).cpu()
        flags = torch.stack([torch.isfinite(g).reshape(g.shape[0], -1).all(dim=1) for g in grads])
        return flags.all(dim=0).cpu()

    def _stop_non_finite(self, losses: torch.Tensor, step: int | None) -> dict[int, str]:
        finite_loss = torch.isfinite(losses)
        finite_grad = self._finite_gradients(losses.numel())
        if bool(finite_loss.all() and finite_grad.all()):
            return {}
        at = f" at step {step}" if step is not None else ""
        reasons = {}
        for index in (~(finite_loss & finite_grad)).nonzero().flatten().tolist():
            if index in self.frozen:
                continue
            loss = float(losses[index])
            if not finite_loss[index]:
                what = f"The training loss became {loss}{at}"
                advice = "another damping function, or float32 precision"
            else:
                what = f"The gradient became NaN or infinite{at} (the loss was {loss:.6g})"
                advice = "or another damping function"
            if not self.stacked:
                raise NonFiniteLossError(
                    f"{what}; the run was stopped before the update. Try a lower learning rate "
                    f"(model.optimizer.lr), {advice}."
                )
            reasons[index] = (
                f"NonFiniteLossError: {what}. The fit was stopped before that update; the other fits "
                f"of its batch went on."
            )
        for index in reasons:
            self.frozen[index] = [p.detach()[index].clone() for p in self.parameters]
        return reasons

    def _zero_frozen_gradients(self) -> None:
        stopped = list(self.frozen)
        for param in self.parameters:
            if param.grad is not None:
                param.grad[stopped] = 0.0

    def _restore_frozen(self) -> None:
        with torch.no_grad():
            for index, saved in self.frozen.items():
                for param, value in zip(self.parameters, saved, strict=True):
                    param[index] = value
