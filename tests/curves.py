"""Loss curves of short fits, and what "equal within float32 rounding" means for them.

Adam divides each update by a running gradient norm, so a rounding difference in one step is
not damped but carried on, and two float32 curves of the same fit drift apart slowly. By how
much depends on the CPU's kernels (the same test gave 1.2e-4 relative at step 50 on one VM and
less on another), so no fixed tolerance is right. The measure used here is the fit's own
float32 error: the eager float32 curve against the same fit in float64."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def fit_losses(net: nn.Module, coords: torch.Tensor, values: torch.Tensor, steps: int, lr: float = 1e-4):
    """MSE before each of `steps` full-batch Adam updates, in the network's dtype."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(net(coords), values)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.asarray(losses)


def largest_relative_gap(curve: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(curve - reference) / np.abs(reference)))


def assert_within_float32_rounding(curve: np.ndarray, eager: np.ndarray, exact: np.ndarray) -> None:
    """`curve` (float32) follows `eager` (float32) no further than `eager` is from `exact` (float64).

    The factor 2 allows the two float32 paths to round in opposite directions. The rounding
    itself must be small (< 1e-3), so the bound never becomes vacuous."""
    rounding = largest_relative_gap(eager, exact)
    assert rounding < 1e-3, f"the float32 eager fit is {rounding:.2e} from float64: not a rounding test"
    gap = largest_relative_gap(curve, eager)
    assert gap <= 2 * rounding, f"{gap:.2e} from the eager curve, float32 rounding here is {rounding:.2e}"
