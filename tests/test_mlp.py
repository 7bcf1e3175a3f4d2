"""Layer layout, parameter count and SIREN initialisation of the coordinate MLP."""

from functools import partial

import numpy as np
import pytest
import torch

from inr_bench.nn.activations import DampedSine
from inr_bench.nn.mlp import CoordinateMLP


def spder(in_features=2, out_features=1, width=256, hidden_layers=5, w0=30.0):
    return CoordinateMLP(
        in_features, out_features, partial(DampedSine, w0=w0, damping="sqrt"), width, hidden_layers
    )


def expected_parameters(in_features, out_features, width, hidden_layers):
    return (in_features + 1) * width + hidden_layers * (width + 1) * width + (width + 1) * out_features


def test_reference_layout_has_7_linear_layers_and_329985_parameters():
    net = spder()
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    activations = [m for m in net.modules() if isinstance(m, DampedSine)]
    assert len(linears) == 7 and len(activations) == 6
    assert sum(p.numel() for p in net.parameters()) == 329_985


@pytest.mark.parametrize("shape", [(1, 1, 64, 2), (3, 3, 32, 4), (2, 3, 16, 0)])
def test_parameter_count_formula(shape):
    net = spder(*shape)
    assert sum(p.numel() for p in net.parameters()) == expected_parameters(*shape)


def test_siren_initialisation_ranges():
    torch.manual_seed(0)
    w0, width = 30.0, 256
    net = spder(w0=w0, width=width)
    first = net.linears[0]
    # First layer U(-1/fan_in, 1/fan_in); fan_in = 2.
    bound = 1.0 / 2
    assert first.weight.abs().max() <= bound and first.weight.abs().max() > 0.9 * bound
    later = [*net.linears[1:], net.head]
    for layer in later:
        bound = np.sqrt(6.0 / layer.in_features) / w0
        weights = layer.weight.detach().numpy()
        assert np.abs(weights).max() <= bound
        assert np.abs(weights).max() > 0.95 * bound
        # A uniform distribution on [-b, b] has standard deviation b / sqrt(3).
        assert weights.std() == pytest.approx(bound / np.sqrt(3), rel=0.05)
    for layer in [*net.linears, net.head]:
        # Biases keep PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        assert layer.bias.abs().max() <= 1.0 / np.sqrt(layer.in_features)


def test_forward_matches_numpy_reference():
    torch.manual_seed(1)
    net = spder(width=16, hidden_layers=2).double()
    x = np.random.default_rng(0).uniform(-1, 1, size=(10, 2))
    h = x
    for linear in net.linears:
        u = 30.0 * (h @ linear.weight.detach().numpy().T + linear.bias.detach().numpy())
        h = np.sin(u) * np.sqrt(np.maximum(np.abs(u), np.finfo(np.float64).tiny))
    expected = h @ net.head.weight.detach().numpy().T + net.head.bias.detach().numpy()
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-10, atol=1e-12)
