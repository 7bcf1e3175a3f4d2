"""Shared test fixtures: the real config composed and shrunk, and the shared real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import DictConfig, open_dict

from inr_bench.config import compose_config as compose_package_config

REPO_ROOT = Path(__file__).resolve().parents[1]
# CI points INR_BENCH_DATA at ../shared/data; a developer checkout beside shared/ works alike.
os.environ.setdefault("INR_BENCH_DATA", str((REPO_ROOT / ".." / "shared" / "data").resolve()))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
SHARED_DATA = Path(os.environ["INR_BENCH_DATA"])


def compose_config(
    output_dir: Path, overrides: list[str] = (), return_hydra_config: bool = False
) -> DictConfig:
    """The real config with `overrides`, writing into `output_dir`, as `train()` receives it."""
    return compose_package_config(
        [f"paths.output_dir={output_dir}", *overrides], return_hydra_config=return_hydra_config
    )


def module_for(datamodule, *overrides: str):
    """The INRFitModule a run with `overrides` builds for `datamodule`'s signal (set up)."""
    from inr_bench.fitting.module import INRFitModule

    cfg = compose_config(Path("unused"), list(overrides))
    return INRFitModule(
        cfg, datamodule.signal_shape, datamodule.out_features, datamodule.coord_scale, datamodule.chunk_size
    )


def tiny(cfg: DictConfig) -> DictConfig:
    """Shrink a composed config for CPU tests: no progress bar, quiet trainer."""
    with open_dict(cfg):
        cfg.trainer.enable_progress_bar = False
        cfg.callbacks.pop("progress_bar", None)
    return cfg


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}; set INR_BENCH_DATA")
    return SHARED_DATA


@pytest.fixture
def make_config(tmp_path):
    def _make(*overrides: str, subdir: str = "run") -> DictConfig:
        return tiny(compose_config(tmp_path / subdir, list(overrides)))

    return _make


@pytest.fixture
def one_thread():
    """Tiny problems gain nothing from a second intra-op thread; on a shared CPU it only spins."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class StopAtStep:
    """A Lightning callback (by `_target_: conftest.StopAtStep`) that breaks a run after `step`
    optimiser steps, as a crash would: for tests of resuming from the last checkpoint."""

    def __new__(cls, step: int):
        import lightning as L

        class _Stop(L.Callback):
            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_index) -> None:
                if trainer.global_step >= step:
                    raise RuntimeError(f"stopped at step {trainer.global_step} by the test")

        return _Stop()
