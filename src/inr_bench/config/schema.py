"""The config schema: structured configs (dataclasses) in Hydra's ConfigStore.

Composition is in struct mode, so a key the schema does not know fails when the config is
composed (`data.sise=64`, or `sise: 64` in a user's YAML), naming the key; `config/hints.py`
then adds the likely intended key and the valid ones. Types are checked too (`data.size=abc`).

Two kinds of schema:
- Our own nodes are written out here: the top level (`RunConfig`), `paths`, `model`, `delta`,
  the tables' `table` node and `render`'s arguments.
- A node that builds a component (`_target_`: a DataModule, a task, Lightning's Trainer) takes its
  schema from the component's own constructor (`target_schema`), so the YAML files and the code
  cannot drift apart. The group files name theirs in their defaults list, e.g. data/div2k.yaml:
  `- /schema/data/image@_here_` (that schema also sets `_target_`).
Nodes inside `model` (`net`, its activation and encoding, `optimizer`) and the `callbacks` and
`logger` entries are open here; `config/checks.py` checks each against its target's signature.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

# Types a structured config can check; anything else becomes Any.
_SIMPLE_TYPES = (bool, int, float, str)


@dataclass
class PathsConfig:
    # Folder datasets live under the data root: $INR_BENCH_DATA, or ./data when it is unset.
    data_root: str = MISSING
    # Where a run writes metrics.json, pictures and checkpoints (Hydra's run folder).
    output_dir: str = MISSING


@dataclass
class DeltaConfig:
    # A name of the damping registry (inr_bench/nn/damping.py).
    name: str = MISSING


@dataclass
class ModelConfig:
    name: str = MISSING
    # Column heading in tables and legends.
    label: str = MISSING
    # Place among a table's columns (the paper's Table 1 order first); ties sort by name.
    table_order: int = 100
    # The damping function of models that have one (`${delta.name}`); null for the others, whose
    # run names, records and table fingerprints then carry no damping.
    damping: str | None = None
    # The network: a `_target_` node called with in_features and out_features (nn/build.py).
    net: Any = MISSING
    # The optimiser: a `_target_` node with `_partial_: true`, called with the parameters; its
    # algorithm from `optim=`, its settings from the model's YAML.
    optimizer: Any = MISSING
    # The learning-rate schedule from `scheduler=`, stepped once per optimiser step: a `_target_`
    # node with `_partial_: true`, called with the optimiser; empty for a constant rate.
    scheduler: Any = None


@dataclass
class TableConfig:
    """The `table` node of `python -m inr_bench.tables`; values and meanings: conf/tables.yaml."""

    models: list[Any] = MISSING
    columns: list[str] | None = MISSING
    num_signals: int | None = MISSING
    first_index: int = MISSING
    signals: list[Any] | None = MISSING
    out_dir: str = MISSING
    batch_size: int = MISSING
    device: str = MISSING
    retry_failed: bool = MISSING
    save_outputs: bool = MISSING
    aggregate_only: bool = MISSING
    title: str | None = MISSING
    paper_table: str | None = MISSING


@dataclass
class RunConfig:
    """The top level of `python -m inr_bench.train`; its values, and what each means, are in
    conf/config.yaml."""

    seed: int = MISSING
    eval_steps: list[int] = MISSING
    rho_variant: str = MISSING
    eval_chunk_size: int | None = MISSING
    tf32: bool = MISSING
    resume: str | None = MISSING
    save_outputs: bool = MISSING
    restore_best: bool = MISSING
    optimized_metric: str = MISSING
    paths: PathsConfig = field(default_factory=PathsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    delta: DeltaConfig | None = None
    data: Any = MISSING
    task: Any = MISSING
    trainer: Any = MISSING
    callbacks: dict[str, Any] | None = None
    logger: dict[str, Any] | None = None
    # The tables' settings (conf/tables.yaml): the presets of the paper's tables set them, and a
    # single run of such a preset ignores them.
    table: TableConfig | None = MISSING


@dataclass
class RenderConfig:
    """The arguments of `python -m inr_bench.render`; values and meanings: conf/render.yaml."""

    ckpt: str = MISSING
    size: str = MISSING
    out: str | None = MISSING
    tile: int = MISSING
    grid: str = MISSING
    device: str = MISSING


# ----------------------------------------------------------------------------- from signatures
def _config_type(annotation: Any) -> Any:
    """The annotation as a type OmegaConf can check (bool, int, float, str, optionally None),
    else Any."""
    if annotation in _SIMPLE_TYPES:
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1 and members[0] in _SIMPLE_TYPES:
            return members[0] | None
    return Any


def _field_for(parameter: inspect.Parameter, annotation: Any) -> tuple[Any, Any]:
    kind = _config_type(annotation)
    default = parameter.default
    if default is inspect.Parameter.empty:
        return kind, field(default=MISSING)
    if isinstance(default, (list, tuple)):
        return Any, field(default_factory=lambda value=list(default): list(value))
    if default is None and kind is not Any and typing.get_origin(kind) is not types.UnionType:
        kind = kind | None
    if default is not None and not isinstance(default, (*_SIMPLE_TYPES, str)):
        return Any, field(default=None)  # an object default (a class, a function): not config
    return kind, field(default=default)


def target_schema(target: type, exclude: tuple[str, ...] = (), name: str | None = None) -> type:
    """A dataclass schema of the keyword parameters of `target` (a class), plus `_target_`.

    Parameters in `exclude` are left out (those the caller passes at instantiation: the
    Trainer's callbacks and loggers, a network's in/out features). Types come from the
    annotations where a structured config can check them (bool, int, float, str, optional),
    else Any. A target taking **kwargs gets no schema of its own (TypeError)."""
    signature = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target.__init__)
    except Exception:  # noqa: BLE001 - unresolvable annotations: check keys only
        hints = {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        raise TypeError(f"{target.__qualname__} takes **kwargs: its keys cannot be checked")
    fields = [("_target_", str, field(default=f"{target.__module__}.{target.__qualname__}"))]
    for parameter in signature.parameters.values():
        if parameter.name in exclude or parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        kind, spec = _field_for(parameter, hints.get(parameter.name, Any))
        fields.append((parameter.name, kind, spec))
    # Fields without defaults may not follow fields with them; MISSING is a default here.
    schema = dataclasses.make_dataclass(name or f"{target.__name__}Config", fields)
    schema.__module__ = __name__
    return schema


# Components whose YAML files name a schema: (group, name) -> (target, parameters left out).
def _component_schemas() -> dict[tuple[str, str], tuple[type, tuple[str, ...]]]:
    import lightning

    from inr_bench.data.audio import AudioDataModule
    from inr_bench.data.image import ImageDataModule
    from inr_bench.data.video import VideoDataModule
    from inr_bench.tasks.audio_interp import AudioInterpolation
    from inr_bench.tasks.fit import Fit
    from inr_bench.tasks.frame_interp import FrameInterpolation
    from inr_bench.tasks.gradients import Gradients
    from inr_bench.tasks.superres import SuperResolution

    return {
        ("data", "image"): (ImageDataModule, ()),
        ("data", "audio"): (AudioDataModule, ()),
        ("data", "video"): (VideoDataModule, ()),
        ("task", "fit"): (Fit, ()),
        ("task", "superres"): (SuperResolution, ()),
        ("task", "audio_interp"): (AudioInterpolation, ()),
        ("task", "frame_interp"): (FrameInterpolation, ()),
        ("task", "gradients"): (Gradients, ()),
        # The callbacks, loggers and plugins come from their own groups (train.py passes them).
        ("trainer", "lightning"): (lightning.Trainer, ("callbacks", "logger", "plugins")),
    }


def register() -> None:
    """Store every schema in Hydra's ConfigStore (called once, on import of inr_bench.config)."""
    store = ConfigStore.instance()
    store.store(name="run_schema", node=RunConfig)
    store.store(name="render_schema", node=RenderConfig)
    store.store(group="schema", name="paths", node=PathsConfig)
    store.store(group="schema", name="model", node=ModelConfig)
    store.store(group="schema", name="delta", node=DeltaConfig)
    store.store(group="schema", name="table", node=TableConfig)
    for (group, name), (target, exclude) in _component_schemas().items():
        store.store(group=f"schema/{group}", name=name, node=target_schema(target, exclude))
    _register_pictures(store)


def _register_pictures(store: ConfigStore) -> None:
    """`data=<picture>` for every scikit-image sample picture (camera has its own file)."""
    from inr_bench.data.image import SKIMAGE_PICTURES, ImageDataModule

    schema = target_schema(ImageDataModule)
    for picture in SKIMAGE_PICTURES:
        if picture != "camera":
            store.store(group="data", name=picture, node=schema(name=picture, picture=picture))
