"""Checkpoints written atomically, beside their target.

Lightning's own save writes to a temporary file in the system temp folder and moves it into
place; when that folder is on another file system (a node-local /tmp, results on a shared disk)
the move is a copy over the old `last.ckpt`, and a run killed during it loses both checkpoints.
`AtomicCheckpointIO` writes the whole checkpoint beside its target and renames it, so
`last.ckpt` is always the old or the new checkpoint, whatever kills the run (SIGKILL included).
"""

from __future__ import annotations

import io
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from inr_bench.atomic import write_bytes_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose saves are atomic renames within the checkpoint's folder."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):  # remote storage: Lightning's own way
            return super().save_checkpoint(checkpoint, path, storage_options)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes_atomic(path, buffer.getvalue())
