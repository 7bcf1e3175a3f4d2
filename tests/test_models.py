"""Every model YAML in conf/model/: parameter count, initialisation, output shape, and a short
fit of a real DIV2K crop. Counts and ranges are computed here from the config's numbers and the
papers' formulas, independently of the code that builds the networks."""

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
from skimage import io, transform

from conftest import compose_config
from inr_bench.config import CONFIG_DIR
from inr_bench.errors import InrBenchError
from inr_bench.nn.activations import ReLU
from inr_bench.nn.hash_grid import HashGridEncoding
from inr_bench.nn.hash_grid_backends import hash_grid_encoding

MODELS = sorted(p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml"))
PAPER_MODELS = ["relu", "relu_pe", "relu_ffn", "siren", "siren_pe", "instant_ngp", "spder"]
NEWER_MODELS = ["gauss", "wire", "finer", "spder_grid"]


# Tiny problems: a second intra-op thread only spins when others share the CPU.
pytestmark = pytest.mark.usefixtures("one_thread")


def model_config(tmp_path, name, *overrides):
    if not overrides:
        return default_model_config(name)
    return compose_config(tmp_path, [f"model={name}", *overrides]).model


@functools.cache
def default_model_config(name):
    """conf/model/<name>.yaml as composed by the real config (composition writes nothing)."""
    return compose_config(Path(tempfile.gettempdir()) / "inr_bench_unused", [f"model={name}"]).model


def build(cfg, in_features=2, out_features=1):
    return instantiate(cfg.net, in_features=in_features, out_features=out_features)


def short_name(target: str) -> str:
    return target.rsplit(".", 1)[-1]


def encoding_width(enc_cfg, d: int) -> int:
    """Width of the encoded input, from the encodings' papers."""
    if enc_cfg is None:
        return d
    kind = short_name(enc_cfg._target_)
    if kind == "NerfPositionalEncoding":  # NeRF Eq. 4: sin and cos per band and coordinate
        return d * (2 * enc_cfg.num_bands + int(enc_cfg.include_input))
    if kind == "GaussianFourierFeatures":  # Tancik et al.: cos and sin of m projections
        return 2 * enc_cfg.num_features + (d if enc_cfg.include_input else 0)
    if kind == "hash_grid_encoding":  # Müller et al.: L levels of F features
        return enc_cfg.num_levels * enc_cfg.features_per_level
    raise AssertionError(f"no width formula for encoding {kind}")


def hash_table_rows(enc_cfg, d: int) -> int:
    """Müller et al. 2022, Eq. 2-3: N_l = floor(N_min b^l); a level is dense (1:1) if (N_l+1)^d <= T."""
    levels, n_min, n_max = enc_cfg.num_levels, enc_cfg.base_resolution, enc_cfg.finest_resolution
    b = math.exp((math.log(n_max) - math.log(n_min)) / (levels - 1))
    table = 2**enc_cfg.log2_table_size
    resolutions = [math.floor(n_min * b**level + 1e-9) for level in range(levels)]
    assert resolutions[0] == n_min and resolutions[-1] == n_max
    return sum(min((res + 1) ** d, table) for res in resolutions)


def expected_parameters(cfg, d: int = 2, out: int = 1) -> int:
    enc = cfg.net.get("encoding")
    width, hidden = cfg.net.width, cfg.net.hidden_layers
    first = encoding_width(enc, d)
    mlp = (first + 1) * width + hidden * (width + 1) * width + (width + 1) * out
    learned = 0
    if enc is not None and short_name(enc._target_) == "hash_grid_encoding":
        learned = hash_table_rows(enc, d) * enc.features_per_level
    return mlp + learned  # Fourier-feature matrices are fixed buffers, not parameters


@pytest.mark.parametrize("name", MODELS)
def test_parameter_count(tmp_path, name):
    cfg = model_config(tmp_path, name)
    net = build(cfg)
    assert sum(p.numel() for p in net.parameters()) == expected_parameters(cfg)


def test_paper_network_sizes(tmp_path):
    """The SPDER paper's baselines share its 7-linear-layer width-256 network: 329,985 parameters
    for 2 -> 1 without an encoding (REFERENCE.md)."""
    assert sum(p.numel() for p in build(model_config(tmp_path, "relu")).parameters()) == 329_985
    # relu_pe: 2 + 2 * 2 * 6 = 26 inputs; relu_ffn: 2 + 2 * 20 = 42 inputs.
    assert build(model_config(tmp_path, "relu_pe")).linears[0].in_features == 26
    assert build(model_config(tmp_path, "relu_ffn")).linears[0].in_features == 42
    ngp = build(model_config(tmp_path, "instant_ngp"))
    assert [(lin.in_features, lin.out_features) for lin in ngp.linears] == [(32, 64), (64, 64)]


def uniform_bound(weights: torch.Tensor, bound: float) -> None:
    """Samples of U(-bound, bound): inside it and reaching close to its edge."""
    top = weights.detach().abs().max().item()
    assert top <= bound * (1 + 1e-6)
    assert top > 0.8 * bound


def init_scheme(act_cfg) -> str:
    kind = short_name(act_cfg._target_)
    if kind in ("DampedSine", "Finer"):
        return "siren"
    if kind == "ReLU":
        return act_cfg.get("init", "default")
    return "default"  # Gauss, Wire: PyTorch's nn.Linear init


@pytest.mark.parametrize("name", MODELS)
def test_initialisation_ranges(tmp_path, name):
    torch.manual_seed(0)
    cfg = model_config(tmp_path, name)
    net = build(cfg)
    act = cfg.net.activation
    layers = [*net.linears, net.head]
    if init_scheme(act) == "siren":  # Sitzmann et al. 2020, Sec. 3.2
        w0 = act.w0
        uniform_bound(net.linears[0].weight, 1.0 / net.linears[0].in_features)
        for layer in layers[1:]:
            uniform_bound(layer.weight, math.sqrt(6.0 / layer.in_features) / w0)
    else:  # PyTorch's nn.Linear: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        for layer in layers:
            uniform_bound(layer.weight, 1.0 / math.sqrt(layer.in_features))
    for index, layer in enumerate(layers):
        bound = 1.0 / math.sqrt(layer.in_features)  # PyTorch's default bias
        if index == 0 and short_name(act._target_) == "Finer" and act.first_bias_scale is not None:
            bound = act.first_bias_scale  # FINER's wide first bias U(-k, k)
            assert layer.bias.abs().max() > 0.5 * bound
        assert layer.bias.abs().max() <= bound
    enc = cfg.net.get("encoding")
    if enc is not None and short_name(enc._target_) == "hash_grid_encoding":
        uniform_bound(net.encoding.embeddings, 1e-4)  # Müller et al. 2022, Sec. 4
    if enc is not None and short_name(enc._target_) == "GaussianFourierFeatures":
        assert net.encoding.B.shape == (enc.num_features, 2)
        assert not any(p is net.encoding.B for p in net.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_values(tmp_path, name):
    torch.manual_seed(0)
    cfg = model_config(tmp_path, name)
    for d, out in ((2, 1), (2, 3), (1, 1)):
        net = build(cfg, d, out)
        y = net(torch.rand(37, d) * 2 - 1)
        assert y.shape == (37, out) and y.dtype == torch.float32
        assert torch.isfinite(y).all()


@functools.lru_cache(maxsize=1)
def div2k_crop(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """32x32 crop of a real DIV2K image at 64x64: channel 0, antialiased resize, values in [-1, 1]."""
    image = io.imread(path)[..., 0] / 255.0
    crop = transform.resize(image, (64, 64), anti_aliasing=True)[16:48, 24:56]
    axis = torch.linspace(-1, 1, 32)
    coords = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(-1, 2)
    return coords, torch.tensor(crop * 2 - 1, dtype=torch.float32).reshape(-1, 1)


# Smaller than the defaults so that the whole file stays quick on a CPU; each model keeps its
# own activation, encoding and optimiser (learning rate included).
FIT_OVERRIDES = {"width": 64, "log2_table_size": 12}


@pytest.mark.parametrize("name", MODELS)
def test_fit_real_image_crop_loss_falls(tmp_path, shared_data, name):
    torch.manual_seed(0)
    overrides = []
    cfg = model_config(tmp_path, name)
    if cfg.net.width > FIT_OVERRIDES["width"]:
        overrides.append(f"model.net.width={FIT_OVERRIDES['width']}")
    if "encoding" in cfg.net and "log2_table_size" in cfg.net.encoding:
        overrides.append(f"model.net.encoding.log2_table_size={FIT_OVERRIDES['log2_table_size']}")
    cfg = model_config(tmp_path, name, *overrides)
    net = build(cfg)
    optimizer = instantiate(cfg.optimizer)(net.parameters())
    coords, values = div2k_crop(str(shared_data / "div2k" / "div2k_crop_02.png"))
    losses = []
    for _ in range(40):
        loss = torch.mean((net(coords) - values) ** 2)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(math.isfinite(x) for x in losses)
    assert np.mean(losses[-5:]) < 0.5 * losses[0], (name, losses[0], losses[-5:])


def test_every_model_is_covered():
    assert set(MODELS) >= set(PAPER_MODELS + NEWER_MODELS)


def test_optimisers_follow_each_paper(tmp_path):
    lrs = {name: model_config(tmp_path, name).optimizer.lr for name in MODELS}
    for name in ("relu", "relu_pe", "relu_ffn", "siren", "siren_pe", "spder"):
        assert lrs[name] == 1e-4  # SPDER paper A.9
    ngp = model_config(tmp_path, "instant_ngp").optimizer
    assert (ngp.lr, list(ngp.betas), ngp.eps) == (1e-2, [0.9, 0.99], 1e-15)  # Müller et al. 2022
    assert (lrs["finer"], lrs["wire"], lrs["gauss"]) == (5e-4, 5e-3, 5e-3)


def test_relu_is_the_reference_codes_scaled_relu(tmp_path):
    net = build(model_config(tmp_path, "relu"))
    z = torch.linspace(-1, 1, 11)
    assert torch.equal(net.activations[0](z), torch.relu(30.0 * z))
    plain = build(
        model_config(tmp_path, "relu", "model.net.activation.w0=1", "model.net.activation.init=default")
    )
    assert torch.equal(plain.activations[0](z), torch.relu(z))


def test_spder_grid_takes_delta_and_hash_grid(tmp_path):
    cfg = compose_config(tmp_path, ["model=spder_grid", "delta=arctan"])
    assert cfg.model.damping == "arctan"
    net = build(cfg.model)
    assert net.activations[0].damping_name == "arctan" and net.activations[0].w0 == 30.0
    assert isinstance(net.encoding, HashGridEncoding)


def test_siren_pe_is_siren_plus_nerf_encoding(tmp_path):
    cfg = model_config(tmp_path, "siren_pe")
    siren = model_config(tmp_path, "siren")
    assert cfg.net.activation == siren.net.activation and cfg.optimizer == siren.optimizer
    assert short_name(cfg.net.encoding._target_) == "NerfPositionalEncoding"


def test_paper_image_experiment_keeps_each_models_lr(tmp_path):
    for name, lr in (("relu_pe", 1e-4), ("instant_ngp", 1e-2), ("spder", 1e-4)):
        cfg = compose_config(tmp_path, ["experiment=paper_image", f"model={name}"])
        assert cfg.model.name == name and cfg.model.optimizer.lr == lr
        assert (cfg.data.name, cfg.data.size, cfg.trainer.max_steps) == ("div2k", 256, 500)
        assert list(cfg.eval_steps) == [25, 100, 500]


@pytest.mark.parametrize(
    "experiment, model, lr",
    [("finer_paper", "finer", 5e-4), ("wire_paper", "wire", 5e-3), ("gauss_paper", "gauss", 5e-3)],
)
def test_newer_baseline_presets_select_their_model(tmp_path, experiment, model, lr):
    cfg = compose_config(tmp_path, [f"experiment={experiment}"])
    assert cfg.model.name == model and cfg.model.optimizer.lr == lr
    assert cfg.data.channels == "rgb"
    OmegaConf.to_container(cfg, resolve=True)


def test_relu_w0_and_init_choices():
    z = torch.linspace(-2, 2, 9)
    assert torch.equal(ReLU()(z), torch.relu(z))
    assert torch.allclose(ReLU(w0=30.0, init="siren")(z), 30.0 * torch.relu(z))
    with pytest.raises(ValueError):
        ReLU(init="he")


def test_hash_grid_output_scale_multiplies_the_features():
    torch.manual_seed(0)
    plain = HashGridEncoding(2, num_levels=4, log2_table_size=8, base_resolution=4, finest_resolution=32)
    scaled = HashGridEncoding(
        2, num_levels=4, log2_table_size=8, base_resolution=4, finest_resolution=32, output_scale=10.0
    )
    scaled.load_state_dict(plain.state_dict())
    x = torch.rand(50, 2) * 2 - 1
    assert torch.allclose(scaled(x), 10.0 * plain(x))


def test_hash_grid_backend_selection():
    assert isinstance(hash_grid_encoding(2, log2_table_size=8, finest_resolution=32), HashGridEncoding)
    with pytest.raises(InrBenchError, match="backend"):
        hash_grid_encoding(2, backend="cuda")


def test_tcnn_backend_is_never_a_silent_fallback():
    try:
        import tinycudann  # noqa: F401

        available = torch.cuda.is_available()
    except ImportError:
        available = False
    if available:
        pytest.skip("tiny-cuda-nn and a GPU are present: nothing to refuse")
    with pytest.raises(InrBenchError, match="tinycudann|GPU") as error:
        hash_grid_encoding(2, backend="tcnn")
    assert "backend=torch" in str(error.value)


@pytest.mark.parametrize(
    "name, extra", [("relu_ffn", []), ("spder_grid", ["model.net.encoding.log2_table_size=10"])]
)
def test_train_runs_the_model_end_to_end(make_config, name, extra):
    from inr_bench.train import train

    result = train(
        make_config(f"model={name}", *extra, "data.size=16", "trainer.max_steps=2", "save_outputs=false")
    )
    assert result["status"] == "ok" and result["model"] == name
    assert result["delta"] == ("sqrt" if name == "spder_grid" else None)
