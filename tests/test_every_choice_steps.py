"""Every model, damping and encoding choice in conf/ is built through nn/build.py and takes one real
optimiser step through fitting/step.py on a tiny real signal; every data choice that needs no
download loads; every experiment preset builds its network.

"Composes" is not enough: a YAML can compose and still name a class with the wrong arguments, or
an encoding the network never applies. So each choice is built by the one builder, its layers are
checked against the YAML's own numbers, and one FitStep on a real 16x16 crop of scikit-image's
camera must report the MSE of the network's prediction and change every parameter."""

from __future__ import annotations

import functools
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import compose_config
from inr_bench.config import CONFIG_DIR
from inr_bench.errors import InrBenchError
from inr_bench.fitting.step import FitStep
from inr_bench.nn.build import build_network, build_optimizer

pytestmark = pytest.mark.usefixtures("one_thread")

UNUSED = Path(tempfile.gettempdir()) / "inr_bench_unused"


def choices(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def short(target: str) -> str:
    return target.rsplit(".", 1)[-1]


# Small enough for a CPU test; everything else (activation, encoding, optimiser, lr) is the YAML's.
SMALL = ["model.net.width=16", "model.net.hidden_layers=1"]


@functools.cache
def model_node(model: str):
    """conf/model/<model>.yaml as the real config composes it (composition writes nothing)."""
    return compose_config(UNUSED, [f"model={model}"]).model


def small_overrides(model: str) -> list[str]:
    encoding = model_node(model).net.get("encoding") or {}
    return [*SMALL, *(["model.net.encoding.log2_table_size=10"] if "log2_table_size" in encoding else [])]


@pytest.fixture(scope="module")
def camera16():
    """A real signal: scikit-image's camera at 16x16, as the camera DataModule loads it."""
    cfg = compose_config(UNUSED, ["data=camera", "data.size=16"])
    dm = instantiate(cfg.data)
    dm.setup()
    return dm


def encoded_width(enc, d: int) -> int:
    """The first layer's input width from the YAML's numbers (NeRF Eq. 4; Tancik et al.; Müller et al.)."""
    if enc is None:
        return d
    kind = short(enc._target_)
    if kind == "NerfPositionalEncoding":
        return d * (int(enc.include_input) + 2 * enc.num_bands)
    if kind == "GaussianFourierFeatures":
        return 2 * enc.num_features + (d if enc.include_input else 0)
    if kind == "hash_grid_encoding":
        return enc.num_levels * enc.features_per_level
    raise AssertionError(f"no width rule for encoding {kind}: add one here")


ENCODING_CLASSES = {
    "NerfPositionalEncoding": "NerfPositionalEncoding",
    "GaussianFourierFeatures": "GaussianFourierFeatures",
    "hash_grid_encoding": "HashGridEncoding",
}


def one_step(cfg, dm, seed: int = 0):
    """Build `cfg.model` for `dm`, take one FitStep; returns (net, MSE before, step result, params before)."""
    torch.manual_seed(seed)
    net = build_network(cfg.model, dm.coord_dim, dm.out_features, dm.signal_shape, dm.coord_scale)
    optimizer = build_optimizer(cfg.model, net.parameters())
    with torch.no_grad():
        expected = float(torch.mean((net(dm.coords).double() - dm.values.double()) ** 2))
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    result = FitStep(net, optimizer)(dm.coords, dm.values)
    return net, expected, result, before


def assert_real_step(net, expected, result, before):
    loss = float(result.losses[0])
    assert math.isfinite(loss)
    # The step's loss is the MSE of the network before its update, computed here independently.
    assert loss == pytest.approx(expected, rel=1e-5)
    unchanged = [name for name, p in net.named_parameters() if torch.equal(p.detach(), before[name])]
    assert not unchanged, f"parameters not updated by the step: {unchanged}"
    assert all(torch.isfinite(p).all() for p in net.parameters())


@pytest.mark.parametrize("model", choices("model"))
def test_every_model_builds_as_its_yaml_says_and_steps(camera16, model):
    cfg = compose_config(UNUSED, [f"model={model}", *small_overrides(model)])
    net, expected, result, before = one_step(cfg, camera16)
    node = cfg.model.net
    # the layers are the YAML's: activation class, encoding class and width, layer count, width
    assert {type(a).__name__ for a in net.activations} == {short(node.activation._target_)}
    enc = node.get("encoding")
    if enc is None:
        assert isinstance(net.encoding, torch.nn.Identity)
    else:
        assert type(net.encoding).__name__ == ENCODING_CLASSES[short(enc._target_)]
    assert net.linears[0].in_features == encoded_width(enc, 2)
    assert [layer.out_features for layer in net.linears] == [16, 16] and net.head.out_features == 1
    assert_real_step(net, expected, result, before)


def test_every_encoding_of_the_models_is_one_of_the_built_kinds():
    """The model loop above builds every encoding a model YAML names; a new kind must get a width rule."""
    used = set()
    for model in choices("model"):
        enc = model_node(model).net.get("encoding")
        if enc is not None:
            used.add(short(enc._target_))
    assert used == set(ENCODING_CLASSES)


NUMPY_DAMPINGS = {  # delta(u), written independently of nn/damping.py
    "sqrt": lambda u: np.sqrt(np.abs(u)),
    "log": lambda u: np.log(np.abs(u)),
    "arctan": np.arctan,
    "sqrt_relu": lambda u: np.sqrt(np.maximum(u, 0.0)),
    "identity": lambda u: u,
    "square": lambda u: u**2,
    "relu": lambda u: np.maximum(u, 0.0),
    "one": np.ones_like,
}


@pytest.mark.parametrize("delta", choices("delta"))
def test_every_damping_choice_reaches_the_activation_and_steps(camera16, delta):
    cfg = compose_config(UNUSED, ["model=spder", f"delta={delta}", *SMALL])
    net, expected, result, before = one_step(cfg, camera16)
    name = OmegaConf.load(Path(CONFIG_DIR) / "delta" / f"{delta}.yaml").name
    assert cfg.model.damping == name
    z = np.linspace(-0.2, 0.2, 401)
    z = z[np.abs(z) > 1e-6]
    for act in net.activations:
        assert act.damping_name == name
        with torch.no_grad():
            got = act(torch.from_numpy(z)).numpy()
        np.testing.assert_allclose(got, np.sin(30 * z) * NUMPY_DAMPINGS[name](30 * z), rtol=1e-10, atol=1e-12)
    assert_real_step(net, expected, result, before)


# ------------------------------------------------------------------ data


def expected_grid(shape, scale):
    axes = np.meshgrid(*[np.linspace(-1, 1, n) * scale for n in shape], indexing="ij")
    return np.stack([a.ravel() for a in axes], axis=1)


DATA = {  # choice -> (overrides that keep it tiny, expected signal shape)
    "camera": (["data.size=8"], (8, 8)),
    "div2k": (["data.size=8"], (8, 8)),
    "ffhq": (["data.size=8"], (8, 8)),
    "image_folder": (["data.path=${paths.data_root}/ffhq", "data.index=1", "data.size=8"], (8, 8)),
    "bach": (["data.offset=1.0", "data.seconds=0.001"], (44,)),
    "audio_file": (["data.path=${paths.data_root}/audio/arctic_a0007.wav", "data.seconds=0.01"], (160,)),
    "bikes": (["data.num_frames=2", "data.size=8"], (2, 8, 8)),
    "bigbuckbunny": (["data.num_frames=2", "data.size=8"], (2, 8, 8)),
    "video_file": (
        ["data.path=${paths.data_root}/video/bikes.mp4", "data.num_frames=3", "data.size=8"],
        (3, 8, 8),
    ),
}
# Not on these machines: they must say where to get them.
NEEDS_DOWNLOAD = {"esc50": "ESC-50", "flickr2k": "Flickr2K"}


def test_every_data_choice_is_listed_here():
    assert set(choices("data")) == set(DATA) | set(NEEDS_DOWNLOAD)


@pytest.mark.parametrize("choice", sorted(DATA))
def test_every_local_data_choice_loads_its_signal_on_the_grid(shared_data, choice):
    overrides, shape = DATA[choice]
    cfg = compose_config(UNUSED, [f"data={choice}", *overrides])
    dm = instantiate(cfg.data)
    dm.setup()
    assert dm.signal_shape == shape
    assert dm.values.shape == (math.prod(shape), dm.out_features) and dm.values.dtype == torch.float32
    assert -1.0 <= float(dm.values.min()) < float(dm.values.max()) <= 1.0  # a real, non-constant signal
    np.testing.assert_allclose(dm.coords.numpy(), expected_grid(shape, cfg.data.coord_scale), atol=1e-5)
    assert dm.coord_scale == cfg.data.coord_scale


@pytest.mark.parametrize("choice", sorted(NEEDS_DOWNLOAD))
def test_data_choices_not_on_this_machine_say_where_to_get_them(tmp_path, choice):
    cfg = compose_config(UNUSED, [f"data={choice}", f"paths.data_root={tmp_path}"])
    with pytest.raises(InrBenchError) as error:
        instantiate(cfg.data).setup()
    assert NEEDS_DOWNLOAD[choice] in str(error.value) and str(tmp_path) in str(error.value)


# ------------------------------------------------------------------ experiments


def yaml_changes(raw, prefix=()):
    """(path, value) of every leaf an experiment YAML sets (its defaults list and hydra node aside)."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            if not prefix and key in ("defaults", "hydra"):
                continue
            yield from yaml_changes(value, (*prefix, key))
    else:
        yield prefix, raw


def container_at(container, path):
    for key in path:
        container = container[key]
    return container


COORD_DIM = {"image": 2, "audio": 1, "video": 3}


@pytest.mark.parametrize("experiment", choices("experiment"))
def test_every_experiment_sets_what_its_yaml_says_and_builds(experiment):
    # narrower than the preset (the paper's video network has 12 layers of 1024): these two keys
    # are the test's, every other value the preset sets must be in the composed config
    cfg = compose_config(UNUSED, [f"experiment={experiment}", *SMALL], return_hydra_config=True)
    raw = OmegaConf.to_container(OmegaConf.load(Path(CONFIG_DIR) / "experiment" / f"{experiment}.yaml"))
    composed = OmegaConf.to_container(cfg, resolve=False)
    narrowed = {("model", "net", "width"), ("model", "net", "hidden_layers")}
    for path, value in yaml_changes(raw):
        if path not in narrowed:
            assert container_at(composed, path) == value, (experiment, path)
    for entry in raw.get("defaults", []):
        if isinstance(entry, dict):
            ((key, choice),) = entry.items()
            if key.startswith("override /"):
                assert cfg.hydra.runtime.choices[key.removeprefix("override /")] == choice, (experiment, key)
    kind = short(cfg.data._target_).removesuffix("DataModule").lower()
    net = build_network(cfg.model, COORD_DIM[kind], 1, (8,) * 3)
    assert net(torch.zeros(4, COORD_DIM[kind])).shape == (4, 1)
    assert type(net.activations[0]).__name__ == short(cfg.model.net.activation._target_)
