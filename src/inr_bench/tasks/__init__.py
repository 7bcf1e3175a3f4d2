"""Downstream tasks run after (and, to restrict the training points, before) a fit:
super-resolution, audio interpolation, frame interpolation and image gradients."""

from inr_bench.tasks.base import DownstreamTask

__all__ = ["DownstreamTask"]
