"""Every config group composes, and every choice instantiates what it names."""

from pathlib import Path

import pytest
from hydra.errors import MissingConfigException
from hydra.utils import instantiate

from conftest import compose_config
from inr_bench.config import CONFIG_DIR

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


@pytest.mark.parametrize("group, choice", [(g, c) for g in GROUPS for c in choices(g)])
def test_every_choice_composes(tmp_path, group, choice):
    overrides = [f"{group}={choice}"]
    if group == "data" and choice == "image_folder":
        overrides.append(f"data.path={tmp_path}")
    cfg = compose_config(tmp_path, overrides)
    assert cfg.model.net._target_
    if group == "model":
        net = instantiate(cfg.model.net, in_features=2, out_features=1)
        assert sum(p.numel() for p in net.parameters()) > 0


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
