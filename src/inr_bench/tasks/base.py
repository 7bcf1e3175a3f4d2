"""What every downstream task shares: the hooks `train()` calls, scoring, and query grids.

A task is instantiated from `conf/task/<name>.yaml` (the plain fit is the task `fit`, which does
nothing more). `train()` calls `prepare(datamodule)` after `datamodule.setup()` and before the
network is built: a task that trains on part of the signal restricts the training points here
(`keep_subgrid`). After fitting, the task callback calls `run(module, datamodule, out_dir,
rho_variant) -> dict | None`: its record goes into metrics.json under "task" (per factor or
held-out set, the INR's metrics and each baseline's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inr_bench.metrics import evaluate_signal


class DownstreamTask:
    """Base of the tasks: a name, a no-op `prepare`, and `run` to implement."""

    name: str = "task"

    def prepare(self, datamodule) -> None:
        """Restrict the training points, if the task needs to (default: train on everything)."""

    def run(self, module, datamodule, out_dir: Path, rho_variant: str = "reference") -> dict | None:
        raise NotImplementedError


def score(
    pred: torch.Tensor, target: torch.Tensor, signal_shape, data_range: float, rho_variant: str
) -> dict:
    """evaluate_signal's metrics with the MSE named `mse` (it is a score here, not a loss)."""
    metrics = evaluate_signal(pred, target, tuple(signal_shape), data_range, rho_variant)
    return {"mse": metrics.pop("loss"), **metrics}


def pixel_centre_positions(base: int, size: int) -> np.ndarray:
    """Positions, in base-pixel index units, of the centres of `size` pixels covering the same
    extent as `base` pixels: (j + 0.5) * base / size - 0.5 (half-pixel centres, as antialiased
    resizing and bicubic with align_corners=False place them). Exact in float64 for the
    power-of-two ratios used here."""
    j = np.arange(size, dtype=np.float64)
    return (j + 0.5) * base / size - 0.5


def pixel_centre_axis(base: int, size: int, scale: float = 1.0) -> torch.Tensor:
    """INR coordinates of those centres along one axis of a signal fit at linspace(-1, 1, base).

    Base pixel i sits at -1 + 2 i / (base - 1) (the training grid), so base-pixel position p
    maps to -1 + 2 p / (base - 1): the INR's frame is the image's [-1, 1] extent stretched by
    base / (base - 1), and the outermost query points lie slightly outside [-1, 1]."""
    if base < 2:
        raise ValueError(f"an axis needs at least 2 samples to define the coordinate frame, got {base}")
    positions = pixel_centre_positions(base, size)
    return torch.from_numpy((-1.0 + 2.0 * positions / (base - 1)) * scale).float()


def pixel_centre_grid(base_shape, out_shape, scale: float = 1.0) -> torch.Tensor:
    """(prod(out_shape), d) coordinates, 'ij' and row-major like `coordinate_grid`, of the pixel
    centres of an `out_shape` raster over the extent of a signal fit on `base_shape`."""
    axes = [pixel_centre_axis(b, n, scale) for b, n in zip(base_shape, out_shape, strict=True)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    return grid.reshape(-1, len(axes))


def linspace_grid(out_shape, scale: float = 1.0) -> torch.Tensor:
    """linspace(-1, 1, n) per axis (the training grid's rule at another size): what the SPDER
    reference queried. Its end points are the outer base pixels' centres, so against a target
    resized with half-pixel centres it is shifted by up to half a base pixel near the edges."""
    axes = [torch.linspace(-1.0, 1.0, n, dtype=torch.float64) * scale for n in out_shape]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    return grid.reshape(-1, len(axes)).float()
