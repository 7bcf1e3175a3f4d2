"""The one way a model config becomes a network and its optimiser.

Training, the tables, batched fitting, rendering and the speed benchmarks all call
`build_network(model_cfg, in_features, out_features)` and `build_optimizer(model_cfg, params)`;
`model_cfg` is a `model` node of the config (conf/model/<name>.yaml), as a DictConfig or as the
plain dict a checkpoint stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from inr_bench.errors import InrBenchError


def instantiate_node(node, key: str, **kwargs):
    """instantiate(node, **kwargs), with a failure reported as an InrBenchError naming `key`."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        while cause is not None and not isinstance(cause, InrBenchError):
            cause = cause.__cause__
        if cause is not None:  # the component's own clear message
            raise cause from error
        raise InrBenchError(
            f"Could not build `{key}` from the config: {error.__cause__ or error}. Check the values under "
            f"`{key}` (`python -m inr_bench.train --cfg job` prints them all)."
        ) from error


def _node(model_cfg: DictConfig | Mapping, key: str):
    node = model_cfg[key]
    return node if isinstance(node, DictConfig) else OmegaConf.create(dict(node))


def build_network(model_cfg: DictConfig | Mapping, in_features: int, out_features: int) -> torch.nn.Module:
    """The network of `model_cfg` mapping `in_features` coordinates to `out_features` values."""
    return instantiate_node(
        _node(model_cfg, "net"), "model.net", in_features=in_features, out_features=out_features
    )


def build_optimizer(model_cfg: DictConfig | Mapping, parameters: Iterable) -> torch.optim.Optimizer:
    """The optimiser of `model_cfg` over `parameters`."""
    factory = instantiate_node(_node(model_cfg, "optimizer"), "model.optimizer")
    return factory(parameters)
