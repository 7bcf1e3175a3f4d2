"""Every config group's every choice: it is the one selected, what its YAML sets is what the run
gets, and what it names exists and is built where that is cheap here. (Models, dampings and
encodings are built and stepped, data loaded and experiments built in test_every_choice_steps.py.)"""

import importlib
from pathlib import Path

import lightning as L
import pytest
from hydra.errors import MissingConfigException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import compose_config
from inr_bench.config import CONFIG_DIR
from inr_bench.tasks.base import DownstreamTask

GROUPS = [
    "model",
    "delta",
    "data",
    "trainer",
    "callbacks",
    "logger",
    "task",
    "experiment",
    "launcher",
]


def choices(group):
    folder = Path(CONFIG_DIR) / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def leaves(node, prefix=()):
    """(path, value) of every leaf a YAML file sets, its defaults list left out."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not prefix and key == "defaults":
                continue
            yield from leaves(value, (*prefix, key))
    else:
        yield prefix, node


def at(container, path):
    for key in path:
        container = container[key]
    return container


def targets(node):
    """Every `_target_` under a config node."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield node["_target_"]
        for value in node.values():
            yield from targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from targets(value)


@pytest.mark.parametrize("group, choice", [(g, c) for g in GROUPS for c in choices(g)])
def test_every_choice_is_selected_and_its_yaml_lands(tmp_path, group, choice):
    """The composed config selected `choice` and holds every value its YAML sets (in the group's
    node, or at the top for a global-package file); every `_target_` it names is importable."""
    overrides = [f"{group}={choice}"]
    if group == "data" and choice in ("image_folder", "video_file"):
        overrides.append(f"data.path={tmp_path}")
    cfg = compose_config(tmp_path, overrides, return_hydra_config=True)
    assert cfg.hydra.runtime.choices[group] == choice
    path = Path(CONFIG_DIR) / group / f"{choice}.yaml"
    raw = OmegaConf.to_container(OmegaConf.load(path))
    is_global = "@package _global_" in path.read_text()
    composed = OmegaConf.to_container(cfg if is_global else cfg[group], resolve=False)
    for key, value in leaves(raw):
        if f"{group}.{'.'.join(key)}" in (o.split("=")[0] for o in overrides):
            continue
        assert at(composed, key) == value, key
    for target in set(targets(OmegaConf.to_container(cfg, resolve=False))):
        module, _, name = target.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name, None)), target


@pytest.mark.parametrize("choice", choices("task"))
def test_every_task_choice_instantiates_its_task(tmp_path, choice):
    cfg = compose_config(tmp_path, [f"task={choice}"])
    task = instantiate(cfg.task)
    assert isinstance(task, DownstreamTask) and task.name == choice
    assert type(task).__name__ == cfg.task._target_.rsplit(".", 1)[-1]


@pytest.mark.parametrize("choice", choices("callbacks"))
def test_every_callbacks_choice_builds_lightning_callbacks(tmp_path, choice):
    cfg = compose_config(tmp_path, [f"callbacks={choice}"])
    built = {name: instantiate(node) for name, node in (cfg.callbacks or {}).items() if node}
    assert set(built) == set(OmegaConf.load(Path(CONFIG_DIR) / "callbacks" / f"{choice}.yaml") or {})
    for name, callback in built.items():
        assert isinstance(callback, L.Callback), name
    if "checkpoint" in built:
        assert built["checkpoint"].dirpath == str(tmp_path / "checkpoints") and built["checkpoint"].save_last


@pytest.mark.parametrize("choice", ["csv", "tensorboard"])
def test_file_loggers_write_into_the_run_folder(tmp_path, choice):
    cfg = compose_config(tmp_path, [f"logger={choice}"])
    (logger,) = [instantiate(node) for node in cfg.logger.values()]
    assert Path(logger.save_dir) == tmp_path and logger.name == choice


@pytest.mark.parametrize("choice", ["default", "cpu"])
def test_cpu_trainer_choices_build_a_trainer(tmp_path, choice):
    cfg = compose_config(tmp_path, [f"trainer={choice}", "trainer.max_steps=3"])
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert trainer.max_steps == 3 and trainer.num_devices == 1
    assert type(trainer.accelerator).__name__ == "CPUAccelerator"


def test_delta_lands_in_the_model(tmp_path):
    cfg = compose_config(tmp_path, ["delta=arctan"])
    assert cfg.delta.name == "arctan"
    net = instantiate(cfg.model.net, in_features=1, out_features=1)
    assert net.activations[0].damping_name == "arctan"


def test_siren_is_spder_with_no_damping(tmp_path):
    cfg = compose_config(tmp_path, ["model=siren"])
    assert cfg.model.net.activation.damping == "one"
    assert cfg.model.net.width == 256 and cfg.model.net.hidden_layers == 5


def test_skimage_pictures_by_name(tmp_path):
    cfg = compose_config(tmp_path, ["data=astronaut"])
    assert cfg.data.picture == "astronaut"


def test_unknown_damping_name_is_refused_at_composition(tmp_path):
    with pytest.raises(MissingConfigException, match="delta"):
        compose_config(tmp_path, ["delta=cubic"])
