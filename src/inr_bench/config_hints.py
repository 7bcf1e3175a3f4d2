"""A "did you mean" for a command line that Hydra refused (a mistyped key or option).

Hydra already prints what is wrong ("Could not override 'trainer.max_step'", "Could not find
'model/sprder'" with the available options). For a mistyped key its advice is to add the key
with `+`, which only moves the failure to the component that then gets an unknown argument; the
likely intended key is more useful. `explain_override_error(argv)` composes the config again
(only after a failure, so it costs nothing on a good command line), finds the refused override
and returns a one-paragraph hint, or None.
"""

from __future__ import annotations

import difflib
import re

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from omegaconf import DictConfig, ListConfig, OmegaConf

from inr_bench.config import CONFIG_DIR

_PREFIX = {
    OverrideType.ADD: "+",
    OverrideType.FORCE_ADD: "++",
    OverrideType.DEL: "~",
    OverrideType.CHANGE: "",
}


def _job_overrides(argv: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The job's overrides from a command line (flags and hydra.* dropped, a sweep cut to its
    first value: composition takes single values), and every sweep's values by key."""
    candidates = [
        a
        for a in argv
        if ("=" in a or a.startswith("~"))
        and not a.startswith("-")
        and not a.lstrip("+~").startswith("hydra")
    ]
    try:
        parsed = OverridesParser.create().parse_overrides(candidates)
    except Exception:  # noqa: BLE001 - an unparsable line: Hydra's own message says why
        return [], {}
    single, sweeps = [], {}
    for override, text in zip(parsed, candidates, strict=True):
        if override.is_sweep_override():
            values = list(override.sweep_string_iterator())
            if not values:
                continue
            sweeps[override.key_or_group] = values
            text = f"{_PREFIX.get(override.type, '')}{override.key_or_group}={values[0]}"
        single.append(text)
    return single, sweeps


def _option_hint(group: str, option: str) -> str | None:
    options = _group_options(group)
    if not options:
        return None
    near = _closest(option, options)
    guess = f" Did you mean `{group}={near[0]}`?" if near else ""
    return f"`{group}={option}` is not an option.{guess} The options are: {', '.join(options)}."


def _keys(node, prefix: str = "") -> list[str]:
    """Every dotted key of a config (lists as leaves)."""
    keys = []
    if isinstance(node, DictConfig):
        for key in node.keys():
            path = f"{prefix}{key}"
            keys.append(path)
            try:
                child = node._get_node(key)
            except Exception:  # noqa: BLE001
                continue
            if isinstance(child, DictConfig):
                keys.extend(_keys(child, path + "."))
    return keys


def _closest(word: str, options: list[str]) -> list[str]:
    return difflib.get_close_matches(word, options, n=3, cutoff=0.6)


def _compose(overrides: list[str]) -> tuple[DictConfig | None, Exception | None]:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose(config_name="config", overrides=overrides), None
    except Exception as error:  # noqa: BLE001 - the failure is what we explain
        return None, error
    finally:
        GlobalHydra.instance().clear()


def _group_options(group: str) -> list[str]:
    folder = CONFIG_DIR / group
    names = [p.stem for p in folder.glob("*.yaml")] if folder.is_dir() else []
    from hydra.core.config_store import ConfigStore

    stored = ConfigStore.instance().repo.get(group, {})
    names += [name.removesuffix(".yaml") for name in stored if isinstance(name, str)]
    return sorted(set(names))


def explain_override_error(argv: list[str]) -> str | None:
    """A hint for the first override of `argv` that does not compose, or None."""
    overrides, sweeps = _job_overrides(argv)
    for group, values in sweeps.items():  # a sweep's later values are composed only when their job starts
        options = _group_options(group)
        for value in values:
            if options and value not in options:
                return _option_hint(group, value)
    _, error = _compose(overrides)
    if error is None:
        return None
    message = str(error)
    found = re.search(r"Could not find '([^']+)/([^'/]+)'", message)
    if found:
        return _option_hint(*found.groups())
    found = re.search(
        r"Could not override '([^']+)'|Could not delete from config\. '([^']+)' does not exist", message
    )
    if not found:
        return None
    key = next(g for g in found.groups() if g)
    rest = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] != key]
    base, _ = _compose(rest)
    if base is None:
        return None
    keys = _keys(base)
    parent, _, leaf = key.rpartition(".")
    siblings = [k for k in keys if k.rpartition(".")[0] == parent]
    near = [
        f"{parent}.{m}" if parent else m for m in _closest(leaf, [k.rpartition(".")[2] for k in siblings])
    ]
    near = near or _closest(key, keys)
    if not near:
        return (
            f"`{key}` is not a config key. `python -m inr_bench.train --cfg job` prints every key; "
            f"`+{key}=...` would add it, but only if the component it is passed to accepts it."
        )
    also = f" (or {', '.join(f'`{k}`' for k in near[1:])})" if len(near) > 1 else ""
    value = OmegaConf.select(base, near[0])
    shown = "" if isinstance(value, (DictConfig, ListConfig)) else f" (currently {value!r})"
    return f"`{key}` is not a config key. Did you mean `{near[0]}`{shown}?{also}"
