"""NeRF positional encoding and Gaussian Fourier features: widths, values, randomness, a short fit."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from inr_bench.nn.activations import ReLU
from inr_bench.nn.encodings import GaussianFourierFeatures, NerfPositionalEncoding
from inr_bench.nn.mlp import CoordinateMLP
from signals import camera_crop

# Tiny problems: a second intra-op thread only spins when others share the CPU.
pytestmark = pytest.mark.usefixtures("one_thread")


def fit_losses(net: torch.nn.Module, steps: int = 50, lr: float = 1e-3) -> tuple[float, float]:
    coords, values = camera_crop()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    first = None
    for _ in range(steps):
        loss = torch.mean((net(coords) - values) ** 2)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return first, torch.mean((net(coords) - values) ** 2).item()


@pytest.mark.parametrize("in_features", [1, 2, 3])
@pytest.mark.parametrize("num_bands", [0, 1, 6])
@pytest.mark.parametrize("include_input", [True, False])
def test_positional_encoding_width(in_features, num_bands, include_input):
    if num_bands == 0 and not include_input:
        with pytest.raises(ValueError):
            NerfPositionalEncoding(in_features, num_bands, include_input)
        return
    enc = NerfPositionalEncoding(in_features, num_bands, include_input)
    assert enc.out_features == in_features * (int(include_input) + 2 * num_bands)
    assert enc(torch.zeros(5, in_features)).shape == (5, enc.out_features)
    assert sum(p.numel() for p in enc.parameters()) == 0


def test_positional_encoding_values_follow_nerf_formula():
    x = torch.tensor([[-1.0, 0.3], [0.0, 1.0], [0.123, -0.77]], dtype=torch.float64)
    out = NerfPositionalEncoding(2, num_bands=4)(x).numpy()
    xn = x.numpy()
    expected = [xn]
    for k in range(4):
        expected += [np.sin(2**k * np.pi * xn), np.cos(2**k * np.pi * xn)]
    np.testing.assert_allclose(out, np.concatenate(expected, axis=1), atol=1e-12)
    assert NerfPositionalEncoding(2).num_bands == 10  # NeRF's L for positions


def test_positional_encoding_bands_in_unit_range():
    enc = NerfPositionalEncoding(3, num_bands=8, include_input=False)
    out = enc(torch.rand(200, 3) * 2 - 1)
    assert out.abs().max() <= 1.0


def test_fourier_features_defaults_are_spder_paper():
    enc = GaussianFourierFeatures(2)
    assert enc.B.shape == (20, 2) and enc.scale == 1.0
    assert enc.out_features == 40 and not enc.include_input
    assert "B" in enc.state_dict()  # the draw travels with checkpoints
    assert sum(p.numel() for p in enc.parameters()) == 0  # fixed, never trained
    assert GaussianFourierFeatures(3, num_features=7, include_input=True).out_features == 17


def test_fourier_features_values_and_range():
    enc = GaussianFourierFeatures(2, num_features=5, scale=3.0, seed=1).double()
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    out = enc(x).numpy()
    proj = 2 * np.pi * x.numpy() @ enc.B.numpy().T
    np.testing.assert_allclose(out, np.concatenate([np.cos(proj), np.sin(proj)], axis=1), atol=1e-12)
    np.testing.assert_allclose(out[:, :5] ** 2 + out[:, 5:] ** 2, 1.0, atol=1e-12)
    with_input = GaussianFourierFeatures(2, num_features=5, scale=3.0, include_input=True, seed=1).double()
    np.testing.assert_allclose(with_input(x).numpy(), np.concatenate([x.numpy(), out], axis=1))


def test_fourier_features_distribution_and_seed():
    scale = 2.5
    B = GaussianFourierFeatures(2, num_features=20000, scale=scale, seed=0).B
    assert abs(B.mean().item()) < 0.05 * scale
    assert B.std().item() == pytest.approx(scale, rel=0.03)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = GaussianFourierFeatures(2, seed=7).B
    assert torch.equal(torch.get_rng_state(), state)  # a seeded draw leaves the global RNG alone
    assert torch.equal(first, GaussianFourierFeatures(2, seed=7).B)
    assert not torch.equal(first, GaussianFourierFeatures(2, seed=8).B)


def test_fourier_features_reject_bad_scale():
    with pytest.raises(ValueError):
        GaussianFourierFeatures(2, scale=0.0)


@pytest.mark.parametrize(
    "encoding",
    [
        functools.partial(NerfPositionalEncoding, num_bands=6),
        functools.partial(GaussianFourierFeatures, seed=0),
    ],
    ids=["nerf_pe", "fourier_features"],
)
def test_relu_with_encoding_fits_image_crop(encoding):
    torch.manual_seed(0)
    net = CoordinateMLP(2, 1, activation=ReLU, width=64, hidden_layers=2, encoding=encoding)
    assert net.linears[0].in_features == net.encoding.out_features
    first, last = fit_losses(net)
    assert math.isfinite(last) and last < 0.3 * first
