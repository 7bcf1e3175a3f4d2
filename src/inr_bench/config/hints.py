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
import sys
from collections.abc import Callable

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from omegaconf import DictConfig, ListConfig, OmegaConf

from inr_bench.config.compose import compose_config, group_options

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
        and (not a.lstrip("+~").startswith("hydra") or a.startswith("hydra.searchpath="))
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


def _option_hint(group: str, option: str, search_path: list[str] = ()) -> str | None:
    options = _group_options(group, search_path)
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


def _compose(overrides: list[str], config_name: str = "config") -> tuple[DictConfig | None, Exception | None]:
    GlobalHydra.instance().clear()
    try:
        return compose_config(overrides, config_name=config_name), None
    except Exception as error:  # noqa: BLE001 - the failure is what we explain
        return None, error
    finally:
        GlobalHydra.instance().clear()


def _group_options(group: str, search_path: list[str] = ()) -> list[str]:
    GlobalHydra.instance().clear()
    try:
        return group_options(group, search_path)
    except Exception:  # noqa: BLE001 - no such group
        return []
    finally:
        GlobalHydra.instance().clear()


_KINDS = {
    "Integer": "a whole number",
    "Float": "a number",
    "valid bool": "true or false",
    "ListConfig": "a list, e.g. [25,100,500]",
}


def _current(overrides: list[str], key: str, config_name: str):
    """The value `key` has without the overrides that set it (None if that does not compose)."""
    base, _ = _compose([o for o in overrides if o.lstrip("+~").split("=", 1)[0] != key], config_name)
    return OmegaConf.select(base, key) if base is not None else None


def _type_hint(message: str, cause: str, base_value) -> str | None:
    """A value of the wrong type (`seed=abc`): which key takes what, and its current value."""
    found = re.search(r"Error merging override (\S+?)=(.*)", message)
    key = re.search(r"full_key: (\S+)", cause)
    if not found or not key:
        return None
    kind = next((text for word, text in _KINDS.items() if word in cause), None)
    if kind is None:
        return None
    current = base_value(key.group(1))
    now = (
        f" (currently {current!r})"
        if current is not None and not isinstance(current, (DictConfig, ListConfig))
        else ""
    )
    return f"`{key.group(1)}` takes {kind}, not {found.group(2)!r}{now}."


def explain_override_error(argv: list[str], config_name: str = "config") -> str | None:
    """A hint for the first override of `argv` that does not compose (into the config
    `config_name`), or None."""
    overrides, sweeps = _job_overrides(argv)
    search_path = [o for o in overrides if o.startswith("hydra.searchpath=")]
    for group, values in sweeps.items():  # a sweep's later values are composed only when their job starts
        options = _group_options(group, search_path)
        for value in values:
            if options and value not in options:
                return _option_hint(group, value, search_path)
    _, error = _compose(overrides, config_name)
    if error is None:
        return None
    message = str(error)
    wrong_type = _type_hint(
        message, str(error.__cause__ or ""), base_value=lambda key: _current(overrides, key, config_name)
    )
    if wrong_type:
        return wrong_type
    found = re.search(r"Could not find '([^']+)/([^'/]+)'", message)
    if found:
        return _option_hint(*found.groups(), search_path)
    found = re.search(
        r"Could not override '([^']+)'|Could not delete from config\. '([^']+)' does not exist", message
    )
    if not found:
        return None
    key = next(g for g in found.groups() if g)
    rest = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] != key]
    base, _ = _compose(rest, config_name)
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


def main_with_hints(main: Callable[[], object], prefix: str, config_name: str = "config") -> None:
    """Run a Hydra entry point, after checking that its command line composes: a mistyped key,
    option or value is answered by one "did you mean" line, first and alone, instead of Hydra's
    page of text (which still follows for what has no hint). Costs one composition (~0.3 s)."""
    argv = sys.argv[1:]
    if any("=" in a or a.startswith("~") for a in argv) and not {"--help", "-h", "--hydra-help"} & set(argv):
        hint = explain_override_error(argv, config_name)
        if hint:
            print(f"[{prefix}] error: {hint}", file=sys.stderr)
            sys.exit(1)
    main()
