"""The one way a model config becomes a network and its optimiser.

Training, the tables, batched fitting, rendering and the speed benchmarks all call
`build_network(model_cfg, in_features, out_features, signal_shape, coord_scale)` and
`build_optimizer(model_cfg, params)`; `model_cfg` is a `model` node of the config
(conf/model/<name>.yaml), as a DictConfig or as the plain dict a checkpoint stores.

The signal's grid matters for one setting only: `model.net.first_w0=auto` picks the first
layer's w0 from the samples per axis (`auto_first_w0`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

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


# The first layer's highest initial frequency under `first_w0=auto`, as a fraction of the grid's
# Nyquist frequency: fitted to where super-resolution from a 32, 64, 128 and 256 pixel base was
# best in the ablation of REPRODUCTION.md (w0 ~ n / 8 for images).
AUTO_W0_FRACTION = 1.0 / (8.0 * math.pi)


def auto_first_w0(signal_shape: Sequence[int], coord_scale: float, in_features: int) -> float:
    """The first layer's w0 for a signal sampled on `signal_shape` over [-coord_scale, coord_scale].

    SIREN's first-layer init draws weights from U(-1/d, 1/d) (d = in_features), so the first
    layer starts with frequencies up to w0 / d; the grid resolves frequencies up to its Nyquist
    frequency pi (n - 1) / (2 coord_scale), n the fewest samples along an axis. `auto` sets the
    first to AUTO_W0_FRACTION of the second: (n - 1) / 8 for an image on [-1, 1]^2, i.e. 31.9
    for the paper's 256 pixels (where the reference code's 30 sits) and 7.9 for 64."""
    n = min(int(side) for side in signal_shape)
    nyquist = math.pi * (n - 1) / (2.0 * float(coord_scale))
    return in_features * AUTO_W0_FRACTION * nyquist


def build_network(
    model_cfg: DictConfig | Mapping,
    in_features: int,
    out_features: int,
    signal_shape: Sequence[int] | None = None,
    coord_scale: float = 1.0,
) -> torch.nn.Module:
    """The network of `model_cfg` mapping `in_features` coordinates to `out_features` values
    (`signal_shape` and `coord_scale`: the grid it will fit, needed for `first_w0=auto`)."""
    net = _node(model_cfg, "net")
    if net.get("first_w0") == "auto":
        if signal_shape is None:
            raise InrBenchError(
                "model.net.first_w0=auto needs the signal's grid to choose w0; give a number instead."
            )
        net = net.copy()
        net.first_w0 = auto_first_w0(signal_shape, coord_scale, in_features)
    return instantiate_node(net, "model.net", in_features=in_features, out_features=out_features)


def build_optimizer(model_cfg: DictConfig | Mapping, parameters: Iterable) -> torch.optim.Optimizer:
    """The optimiser of `model_cfg` over `parameters`."""
    factory = instantiate_node(_node(model_cfg, "optimizer"), "model.optimizer")
    return factory(parameters)


def build_scheduler(model_cfg: DictConfig | Mapping, optimizer: torch.optim.Optimizer):
    """The learning-rate schedule of `model_cfg` for `optimizer`, or None for a constant rate."""
    node = model_cfg.get("scheduler")
    if not node or not node.get("_target_"):
        return None
    node = node if isinstance(node, DictConfig) else OmegaConf.create(dict(node))
    return instantiate_node(node, "model.scheduler")(optimizer)
