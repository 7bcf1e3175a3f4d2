"""Composing the configuration outside `@hydra.main`: the tables, the benchmarks, the tests.

The YAML groups ship inside the package (`inr_bench/conf`, found as `pkg://inr_bench.conf`),
so an installed inr_bench runs from any folder. A user's own config folder joins through
Hydra's search path, on the command line or in these overrides:
`'hydra.searchpath=[file:///home/me/inr_conf]'`; its `model/*.yaml`, `delta/*.yaml`, ...
become choices like the shipped ones (and a file of the same name there replaces ours).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

CONFIG_MODULE = "inr_bench.conf"
CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"


def _in_hydra(run):
    """Call run() inside an initialised Hydra (ours, or the one already initialised)."""
    if GlobalHydra.instance().is_initialized():
        return run()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return run()


def compose_config(
    overrides: Sequence[str] = (), config_name: str = "config", return_hydra_config: bool = False
) -> DictConfig:
    """The config `python -m inr_bench.train <overrides>` would compose (`config_name="tables"`:
    `python -m inr_bench.tables`'s), `hydra.searchpath` overrides included."""
    return _in_hydra(
        lambda: compose(
            config_name=config_name, overrides=list(overrides), return_hydra_config=return_hydra_config
        )
    )


def group_options(group: str, overrides: Sequence[str] = (), config_name: str = "config") -> list[str]:
    """The choices of a config group (e.g. every model), from the package and the search path."""
    return _in_hydra(
        lambda: sorted(
            GlobalHydra.instance()
            .config_loader()
            .get_group_options(group, config_name=config_name, overrides=list(overrides))
        )
    )
