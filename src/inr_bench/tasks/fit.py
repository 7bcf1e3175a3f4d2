"""The plain fit: the evaluations at `eval_steps` are the result; nothing runs after fitting."""

from __future__ import annotations

from pathlib import Path

from inr_bench.tasks.base import DownstreamTask


class Fit(DownstreamTask):
    def __init__(self, name: str = "fit") -> None:
        self.name = name

    def run(self, module, datamodule, out_dir: Path, rho_variant: str = "reference") -> None:
        return None
