"""What the schema cannot say, checked before anything is loaded or trained.

- Settings the chosen configs leave open (`data.path: ???` of data=image_folder).
- Numbers with a valid range: positive step counts and chunk sizes, a positive learning rate.
- The keys of every node that builds a component (`_target_`) that has no schema of its own in
  config/schema.py (the network, its activation and encoding, the optimiser, callbacks,
  loggers): each key must be a parameter of its target, or the message names the likely one and
  lists the valid ones.
- `delta=` given to a model without a damping function: said once, as a warning.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import math
from collections.abc import Sequence

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from inr_bench.errors import InrBenchError

log = logging.getLogger("inr_bench")
_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_numbers(cfg: DictConfig) -> None:
    max_steps = cfg.trainer.get("max_steps")
    if not _is_positive_int(max_steps):
        raise InrBenchError(f"trainer.max_steps must be a positive number of steps, got {max_steps!r}.")
    eval_steps = cfg.get("eval_steps")
    if not isinstance(eval_steps, Sequence) or not all(_is_positive_int(step) for step in eval_steps):
        raise InrBenchError(
            f"eval_steps must be a list of positive step numbers such as [25,100,500], got {eval_steps!r}."
        )
    if cfg.get("eval_chunk_size") is not None and not _is_positive_int(cfg.eval_chunk_size):
        raise InrBenchError(
            f"eval_chunk_size must be a positive number of points or null, got {cfg.eval_chunk_size!r}."
        )
    lr = OmegaConf.select(cfg, "model.optimizer.lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf):
        raise InrBenchError(f"model.optimizer.lr must be a positive number, got {lr!r}.")


def target_parameters(target: str) -> list[str] | None:
    """The keyword parameters of a `_target_` (None when it takes **kwargs or cannot be found:
    its keys cannot be checked here, the component checks them itself)."""
    try:
        signature = inspect.signature(get_object(target))
    except Exception:  # noqa: BLE001 - a target that does not import is reported when it is built
        return None
    parameters = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL]


def _target_nodes(node, path: str = ""):
    """(dotted path, node) of every node with a `_target_` below `node` (itself included)."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield path, node
        for key in node.keys():
            child = node._get_node(key)
            if isinstance(child, DictConfig):
                yield from _target_nodes(child, f"{path}.{key}" if path else str(key))


def check_targets(cfg: DictConfig, roots: Sequence[str] = ("model", "callbacks", "logger")) -> None:
    """Every key of every `_target_` node under `roots` is a parameter of its target."""
    for root in roots:
        for path, node in _target_nodes(cfg.get(root), root):
            target = str(node["_target_"])
            parameters = target_parameters(target)
            if parameters is None:
                continue
            for key in node.keys():
                if key in _HYDRA_KEYS or key in parameters:
                    continue
                near = difflib.get_close_matches(str(key), parameters, n=1, cutoff=0.6)
                guess = f" Did you mean `{path}.{near[0]}`?" if near else ""
                raise InrBenchError(
                    f"`{path}.{key}` is not a setting of {target}.{guess} Its settings: {', '.join(parameters)}."
                )


def warn_unused_delta(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """A `delta=` on the command line of a model without damping has no effect: say so."""
    if cfg.model.get("damping") is None and any(o.lstrip("+~").startswith("delta=") for o in overrides):
        log.warning(
            "delta=%s has no effect: model=%s has no damping function (model=spder has one).",
            OmegaConf.select(cfg, "delta.name"),
            cfg.model.name,
        )


# How to fill in a setting that a config leaves open (???), where a generic line says too little.
_EXAMPLES = {
    "data.path": "data.path=~/pictures (an image file, or a folder of them: data.index picks one in "
    "sorted order; audio and video configs take a file or folder of clips alike)",
}


def _missing_keys(node, path: str = "") -> list[str]:
    """Dotted keys left open (???) below `node`, without resolving any interpolation."""
    keys = []
    if isinstance(node, DictConfig) and not node._is_missing() and not node._is_none():
        for key in node.keys():
            child = node._get_node(key)
            dotted = f"{path}.{key}" if path else str(key)
            if child._is_missing():
                keys.append(dotted)
            elif isinstance(child, DictConfig):
                keys += _missing_keys(child, dotted)
    return keys


def check_missing(cfg: DictConfig) -> None:
    """Every setting the chosen configs leave open (??? in their YAML) has been given."""
    missing = [key for key in _missing_keys(cfg) if key.split(".")[0] not in ("table", "hydra")]
    if missing:
        key = missing[0]
        group = key.split(".")[0]
        choice = OmegaConf.select(cfg, f"{group}.name") if OmegaConf.select(cfg, group) is not None else None
        needs = f"{group}={choice} needs `{key}`" if choice else f"`{key}` must be set"
        raise InrBenchError(
            f"{needs}: give it on the command line, e.g. {_EXAMPLES.get(key, f'{key}=VALUE')}."
        )


def check_config(cfg: DictConfig) -> None:
    """Catch open settings, nonsensical numbers and unknown component settings before anything
    is loaded."""
    check_missing(cfg)
    check_numbers(cfg)
    check_targets(cfg)
