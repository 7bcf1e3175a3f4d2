"""The modality-independent part of every DataModule: a signal on a coordinate grid.

A modality subclass only loads its signal as a channels-last array in the value range and
says how to save a prediction (pictures, sounds); gridding, sharding across DDP processes
and the full-batch data loader live here once.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from inr_bench.errors import InrBenchError


def coordinate_grid(signal_shape: tuple[int, ...], scale: float = 1.0) -> torch.Tensor:
    """Coordinates (N, d) of a grid: linspace(-1, 1, n) per axis times `scale`, 'ij'
    indexing, row-major flattening (the reference code's convention)."""
    axes = [torch.linspace(-1.0, 1.0, n) for n in signal_shape]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    return grid.reshape(-1, len(signal_shape)) * scale


class RepeatedSignal(Dataset):
    """Yields the same (coords, values) shard at every step: full-batch gradient descent."""

    def __init__(self, coords: torch.Tensor, values: torch.Tensor, total: int, length: int) -> None:
        self.batch = {"coords": coords, "values": values, "total": total}
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return self.batch


class CoordinateDataModule(L.LightningDataModule):
    """A signal as coordinate/value pairs.

    After `setup()`: `coords` (N, d), `values` (N, C), `signal_shape`, `coord_dim`,
    `out_features`, `data_range`. Training batches are this process's shard of all points
    (contiguous, so the union over DDP processes is the whole signal) plus the total point
    count, which the loss divides by so that the summed gradients are the full-batch one.
    `chunk_size` bounds how many points one forward pass sees (exact gradient accumulation).
    """

    kind: str = "signal"
    data_range: float = 2.0  # values live in [-1, 1]

    def __init__(self, name: str, chunk_size: int | None = None, coord_scale: float = 1.0) -> None:
        super().__init__()
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
        ):
            raise InrBenchError(
                f"data.chunk_size must be a positive number of points or null, got {chunk_size!r}."
            )
        self.name = name
        self.chunk_size = chunk_size
        self.coord_scale = coord_scale
        self.coords: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self.signal_shape: tuple[int, ...] = ()
        # The whole signal, for tasks that train on a sub-grid and evaluate the rest
        # (`keep_subgrid`); the same tensors as coords/values/signal_shape otherwise.
        self.full_coords: torch.Tensor | None = None
        self.full_values: torch.Tensor | None = None
        self.full_signal_shape: tuple[int, ...] = ()
        self.subgrid: tuple[int, int] | None = None  # (axis, stride) once restricted

    @abstractmethod
    def load_signal(self) -> np.ndarray:
        """The signal, channels-last (*signal_shape, C), float, in [-1, 1]."""

    @abstractmethod
    def save_outputs(
        self, pred_values: torch.Tensor, out_dir: Path, metrics: dict | None = None
    ) -> list[Path]:
        """Write the prediction (N, C) and the ground truth in this modality's formats."""

    def setup(self, stage: str | None = None) -> None:
        if self.values is not None:
            return
        signal = np.asarray(self.load_signal(), dtype=np.float32)
        self.signal_shape = tuple(int(n) for n in signal.shape[:-1])
        self.values = torch.from_numpy(np.ascontiguousarray(signal.reshape(-1, signal.shape[-1])))
        self.coords = coordinate_grid(self.signal_shape, self.coord_scale)
        self.full_coords, self.full_values, self.full_signal_shape = (
            self.coords,
            self.values,
            self.signal_shape,
        )

    def keep_subgrid(self, axis: int, stride: int) -> torch.Tensor:
        """Train on every `stride`-th sample along `axis` (indices 0, stride, 2 stride, ...).

        `coords`, `values` and `signal_shape` become that sub-grid's, at their positions on the
        whole signal's grid (not a new linspace), so the fit's evaluations score the training
        points; `full_coords`, `full_values`, `full_signal_shape` keep the whole signal for the
        task that evaluates the held-out points. Returns the kept indices along `axis`."""
        if self.full_values is None:
            raise RuntimeError("keep_subgrid() needs setup() first")
        if self.subgrid is not None:
            raise RuntimeError(f"the training points are already restricted (axis, stride) = {self.subgrid}")
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f"stride must be a positive integer, got {stride!r}")
        shape = self.full_signal_shape
        kept = torch.arange(0, shape[axis], stride)
        grid_coords = self.full_coords.reshape(*shape, -1).index_select(axis, kept)
        grid_values = self.full_values.reshape(*shape, -1).index_select(axis, kept)
        self.signal_shape = tuple(grid_values.shape[:-1])
        self.coords = grid_coords.reshape(-1, grid_coords.shape[-1]).contiguous()
        self.values = grid_values.reshape(-1, grid_values.shape[-1]).contiguous()
        self.subgrid = (axis, stride)
        return kept

    @property
    def coord_dim(self) -> int:
        return len(self.signal_shape)

    @property
    def out_features(self) -> int:
        return int(self.values.shape[1])

    @property
    def num_points(self) -> int:
        return int(self.values.shape[0])

    def signal_array(self, values: torch.Tensor) -> np.ndarray:
        """(N, C) values as a channels-last NumPy array of the signal's shape."""
        return values.detach().float().cpu().reshape(*self.signal_shape, -1).numpy()

    def shard(self, rank: int, world_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's contiguous share of the points."""
        index = torch.tensor_split(torch.arange(self.num_points), world_size)[rank]
        return self.coords[index], self.values[index]

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        steps = max(int(trainer.max_steps), 1) if trainer is not None and trainer.max_steps > 0 else 1
        coords, values = self.shard(rank, world)
        dataset = RepeatedSignal(coords, values, self.num_points, steps)
        # batch_size=None: no collation, the shard tensors are handed over as they are.
        return DataLoader(dataset, batch_size=None, shuffle=False, num_workers=0)
