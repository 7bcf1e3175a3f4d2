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


def test_defaults_are_the_papers_network():
    """CoordinateMLP(2, 1, act) without sizes is the reference layout: width 256, 5 hidden layers."""
    net = CoordinateMLP(2, 3, partial(DampedSine, damping="sqrt"))
    assert (net.in_features, net.out_features) == (2, 3)
    assert [layer.out_features for layer in net.linears] == [256] * 6 and net.head.out_features == 3
    assert sum(p.numel() for p in net.parameters()) == expected_parameters(2, 3, 256, 5)


def test_sizes_are_checked_with_the_values():
    act = partial(DampedSine, damping="sqrt")
    with pytest.raises(ValueError, match="width must be >= 1 and hidden_layers >= 0, got 0, 2"):
        CoordinateMLP(2, 1, act, width=0, hidden_layers=2)
    with pytest.raises(ValueError, match="got 4, -1"):
        CoordinateMLP(2, 1, act, width=4, hidden_layers=-1)
    with pytest.raises(ValueError, match="first_w0 must be > 0 or None, got 0"):
        CoordinateMLP(2, 1, act, width=4, hidden_layers=0, first_w0=0.0)
    with pytest.raises(ValueError, match="got -3"):
        CoordinateMLP(2, 1, act, width=4, hidden_layers=0, first_w0=-3.0)
    smallest = CoordinateMLP(2, 1, act, width=1, hidden_layers=0, first_w0=0.5)
    assert len(smallest.linears) == 1 and smallest.activations[0].w0 == 0.5


def test_first_w0_sets_the_first_layer_only():
    """first_w0 is the first activation's w0 (SIREN's first omega_0), with its init; the others
    keep the activation's own w0, and the forward pass follows both."""
    torch.manual_seed(2)
    net = CoordinateMLP(2, 1, partial(DampedSine, w0=30.0, damping="sqrt"), 16, 2, first_w0=5.0).double()
    assert [act.w0 for act in net.activations] == [5.0, 30.0, 30.0]
    # SIREN's first-layer bound does not depend on w0; the hidden layers' bounds use 30
    assert (
        net.linears[0].weight.abs().max() <= 0.5 and net.linears[1].weight.abs().max() <= np.sqrt(6 / 16) / 30
    )
    x = np.random.default_rng(3).uniform(-1, 1, size=(9, 2))
    h = x
    for linear, w0 in zip(net.linears, (5.0, 30.0, 30.0), strict=True):
        u = w0 * (h @ linear.weight.detach().numpy().T + linear.bias.detach().numpy())
        h = np.sin(u) * np.sqrt(np.maximum(np.abs(u), np.finfo(np.float64).tiny))
    expected = h @ net.head.weight.detach().numpy().T + net.head.bias.detach().numpy()
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_layer_wise_only_when_the_coordinates_need_a_gradient(monkeypatch):
    """The forward pass fuses each activation with the next layer (then_linear) except when the
    coordinates require a gradient with grad mode on: then it goes layer by layer (double
    backward, for fitting image gradients). Both paths give the same values."""
    torch.manual_seed(0)
    net = spder(width=8, hidden_layers=1).double()
    fused_calls = []
    real = DampedSine.then_affine

    def counting(self, z, weight, bias):
        fused_calls.append(z.shape)
        return real(self, z, weight, bias)

    monkeypatch.setattr(DampedSine, "then_affine", counting)
    x = torch.rand(5, 2, dtype=torch.float64)
    plain = net(x)
    assert len(fused_calls) == 2  # two activations, each fused with the layer after it
    fused_calls.clear()
    with torch.no_grad():
        net(x.clone().requires_grad_(True))
    assert len(fused_calls) == 2  # no grad mode: nothing to differentiate twice
    fused_calls.clear()
    x_grad = x.clone().requires_grad_(True)
    layer_wise = net(x_grad)
    assert fused_calls == []
    torch.testing.assert_close(layer_wise, plain)
    # double backward through the input gradient works on that path
    (grad,) = torch.autograd.grad(layer_wise.sum(), x_grad, create_graph=True)
    grad.pow(2).sum().backward()
    weights = [layer.weight for layer in [*net.linears, net.head]]
    assert all(
        w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0 for w in weights
    )
