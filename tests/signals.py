"""Small real signals shared by several test modules (import: `from signals import ...`)."""

from __future__ import annotations

import functools

import torch
from skimage import data, transform


@functools.lru_cache(maxsize=1)
def camera_crop() -> tuple[torch.Tensor, torch.Tensor]:
    """32x32 crop (the cameraman) of skimage's camera at 64x64, antialiased, values in [-1, 1]."""
    small = transform.resize(data.camera() / 255.0, (64, 64), anti_aliasing=True)[8:40, 16:48]
    axis = torch.linspace(-1, 1, 32)
    coords = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(-1, 2)
    return coords, torch.tensor(small * 2 - 1, dtype=torch.float32).reshape(-1, 1)
