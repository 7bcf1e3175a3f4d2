"""Gauss, WIRE (real Gabor) and FINER: formulas, their papers' initialisations, a short fit."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from inr_bench.nn.activations import DampedSine, Finer, Gauss, ReLU, Wire
from inr_bench.nn.mlp import CoordinateMLP
from signals import camera_crop

# Tiny problems: a second intra-op thread only spins when others share the CPU.
pytestmark = pytest.mark.usefixtures("one_thread")


Z = np.linspace(-2, 2, 41)


def test_gauss_formula():
    act = Gauss()
    assert act.sigma == 0.09
    out = act(torch.from_numpy(Z)).numpy()
    np.testing.assert_allclose(out, np.exp(-0.5 * (Z / 0.09) ** 2), rtol=1e-12)
    assert act(torch.tensor([0.09])).item() == pytest.approx(math.exp(-0.5))
    with pytest.raises(ValueError):
        Gauss(sigma=0.0)


def test_wire_formula_is_real_part_of_complex_gabor():
    act = Wire()
    assert (act.omega0, act.s0) == (20.0, 10.0)
    out = act(torch.from_numpy(Z)).numpy()
    np.testing.assert_allclose(out, np.cos(20 * Z) * np.exp(-((10 * Z) ** 2)), rtol=1e-12, atol=1e-300)
    complex_gabor = np.exp(1j * 20 * Z - np.abs(10 * Z) ** 2)
    np.testing.assert_allclose(out, complex_gabor.real, rtol=1e-12, atol=1e-300)
    assert act(torch.zeros(3)).dtype == torch.float32


def test_finer_formula_and_gradient():
    act = Finer()
    assert (act.w0, act.first_bias_scale, act.scale_grad) == (30.0, 20.0, False)
    z = torch.from_numpy(Z).requires_grad_()
    out = act(z)
    np.testing.assert_allclose(out.detach().numpy(), np.sin(30 * (np.abs(Z) + 1) * Z), rtol=1e-12, atol=1e-12)
    out.sum().backward()
    # Released code: |z| + 1 is a constant for autograd.
    expected = 30 * (np.abs(Z) + 1) * np.cos(30 * (np.abs(Z) + 1) * Z)
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=1e-9, atol=1e-9)
    z.grad = None
    Finer(scale_grad=True)(z).sum().backward()
    full = 30 * (2 * np.abs(Z) + 1) * np.cos(30 * (np.abs(Z) + 1) * Z)
    np.testing.assert_allclose(z.grad.numpy(), full, rtol=1e-9, atol=1e-9)


def build(activation, width=64, hidden_layers=2):
    return CoordinateMLP(2, 1, activation=activation, width=width, hidden_layers=hidden_layers)


@pytest.mark.parametrize("activation", [Gauss, Wire], ids=["gauss", "wire"])
def test_gauss_and_wire_keep_pytorch_default_init(activation):
    torch.manual_seed(0)
    net = build(activation, width=256)
    for layer in [*net.linears, net.head]:
        bound = 1 / math.sqrt(layer.in_features)  # nn.Linear's default for weights and biases
        assert layer.weight.abs().max().item() <= bound
        assert layer.weight.abs().max().item() > 0.9 * bound
        assert layer.bias.abs().max().item() <= bound


def test_finer_init_is_siren_with_wide_first_bias():
    torch.manual_seed(0)
    net = build(Finer, width=256)
    first, hidden = net.linears[0], net.linears[1:]
    assert first.weight.abs().max().item() <= 1 / 2
    assert first.weight.abs().max().item() > 0.45
    assert first.bias.abs().max().item() <= 20
    assert first.bias.abs().max().item() > 18  # U(-20, 20), not PyTorch's U(-0.71, 0.71)
    for layer in [*hidden, net.head]:
        bound = math.sqrt(6 / layer.in_features) / 30
        assert layer.weight.abs().max().item() <= bound
        assert layer.weight.abs().max().item() > 0.9 * bound
        assert layer.bias.abs().max().item() <= 1 / math.sqrt(layer.in_features)


def test_finer_without_first_bias_scale_keeps_default_bias():
    torch.manual_seed(0)
    net = build(functools.partial(Finer, first_bias_scale=None))
    assert net.linears[0].bias.abs().max().item() <= 1 / math.sqrt(2)


@pytest.mark.parametrize("activation", [Gauss, Wire, Finer], ids=["gauss", "wire", "finer"])
def test_activation_fits_image_crop(activation):
    torch.manual_seed(0)
    net = build(activation)
    coords, values = camera_crop()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(50):
        loss = torch.mean((net(coords) - values) ** 2)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert net(coords).dtype == torch.float32
    assert math.isfinite(losses[-1]) and losses[-1] < 0.1 * losses[0]


@pytest.mark.parametrize("activation", [Gauss, Wire], ids=["gauss", "wire"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_gaussian_tails_are_zero_not_subnormal(activation, dtype):
    """Tails below the smallest normal number are 0: subnormals slow CPU matmuls many times."""
    z = torch.linspace(-3, 3, 6001, dtype=dtype, requires_grad=True)
    out = activation()(z)
    tiny = torch.finfo(dtype).tiny
    envelope = out if activation is Gauss else out / torch.cos(20.0 * z.detach())
    assert not ((envelope != 0) & (envelope.abs() < tiny)).any()
    assert out[0].item() == 0.0 and out[-1].item() == 0.0  # deep in the tail
    out.sum().backward()
    assert torch.isfinite(z.grad).all()
    # Where the exact value is a normal number, it is kept.
    exact = activation()(z.detach().double())
    kept = exact.abs() >= tiny
    torch.testing.assert_close(out.detach().double()[kept], exact[kept], rtol=2e-2, atol=1e-3)


# ------------------------------------------------------------------ the base class, ReLU, DampedSine


@pytest.mark.parametrize("bias", [True, False])
def test_an_activation_then_the_next_layer_is_that_layer_of_the_activation(bias):
    """then_affine(z, W, b) = act(z) W^T + b, for one network (N, in) and K stacked (K, N, in)."""
    act = ReLU(w0=2.0)
    z = torch.randn(7, 5, dtype=torch.float64)
    weight = torch.randn(3, 5, dtype=torch.float64)
    b = torch.randn(3, dtype=torch.float64) if bias else None
    expected = torch.relu(2.0 * z) @ weight.T + (b if bias else 0.0)
    torch.testing.assert_close(act.then_affine(z, weight, b), expected)
    layer = torch.nn.Linear(5, 3, bias=bias).double()
    torch.testing.assert_close(act.then_linear(z, layer), layer(torch.relu(2.0 * z)))
    stacked_z, stacked_w = (
        torch.randn(2, 7, 5, dtype=torch.float64),
        torch.randn(2, 3, 5, dtype=torch.float64),
    )
    stacked_b = torch.randn(2, 1, 3, dtype=torch.float64) if bias else None
    expected = torch.relu(2.0 * stacked_z) @ stacked_w.transpose(1, 2) + (stacked_b if bias else 0.0)
    torch.testing.assert_close(act.then_affine(stacked_z, stacked_w, stacked_b), expected)


def test_relu_scales_by_any_w0_and_names_its_init_choices():
    z = torch.linspace(-2, 2, 9, dtype=torch.float64)
    for w0 in (1.0, 2.0, 30.0):
        torch.testing.assert_close(ReLU(w0=w0)(z), torch.relu(w0 * z))
    with pytest.raises(ValueError, match="init must be 'default' or 'siren', got 'he'"):
        ReLU(init="he")
    assert "w0=30.0, init=siren" in repr(ReLU(30.0, "siren"))


def test_relu_siren_init_is_symmetric_uniform():
    """init="siren": weights U(-b, b) on both sides of 0 (first layer b = 1 / fan_in, then
    sqrt(6 / fan_in) / w0), the head like a later layer."""
    torch.manual_seed(0)
    net = CoordinateMLP(2, 1, functools.partial(ReLU, w0=30.0, init="siren"), width=256, hidden_layers=1)
    for index, layer in enumerate([*net.linears, net.head]):
        bound = 1 / 2 if index == 0 else math.sqrt(6 / layer.in_features) / 30
        weights = layer.weight.detach()
        assert weights.max() <= bound and weights.min() >= -bound
        assert weights.max() > 0.8 * bound and weights.min() < -0.8 * bound


NUMPY_DAMPED = {
    "sqrt": lambda u: np.sqrt(np.maximum(np.abs(u), 1e-300)),
    "arctan": np.arctan,
    "one": np.ones_like,
}


def test_damped_sine_defaults_are_the_reference_codes():
    act = DampedSine()
    assert (act.w0, act.damping_name, act.damping_input, act.eps, act.fused) == (
        30.0,
        "sqrt",
        "scaled",
        None,
        True,
    )
    z = torch.linspace(-0.1, 0.1, 21, dtype=torch.float64)
    expected = np.sin(30 * z.numpy()) * np.sqrt(np.abs(30 * z.numpy()))
    np.testing.assert_allclose(act(z).numpy(), expected, rtol=1e-12, atol=1e-300)
    with pytest.raises(ValueError, match="damping_input must be 'scaled' or 'raw', got 'post'"):
        DampedSine(damping_input="post")
    assert "w0=30.0, damping=sqrt, damping_input=scaled" in repr(act)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("damping_input", ["scaled", "raw"])
@pytest.mark.parametrize("name", sorted(NUMPY_DAMPED))
def test_damped_sine_forward_and_then_affine_match_numpy_on_both_paths(fused, damping_input, name):
    """The fused path (eager below the fusing size) and the eager one compute the same function,
    alone and followed by a layer, with the activation's own w0 and damping."""
    z = torch.linspace(-0.2, 0.2, 41, dtype=torch.float64)
    act = DampedSine(w0=12.0, damping=name, damping_input=damping_input, fused=fused)
    u = 12.0 * z.numpy()
    expected = np.sin(u) * NUMPY_DAMPED[name](u if damping_input == "scaled" else z.numpy())
    np.testing.assert_allclose(act(z).numpy(), expected, rtol=1e-12, atol=1e-300)
    weight, bias = torch.randn(3, 41, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    out = act.then_affine(z[None], weight, bias).detach().numpy()
    np.testing.assert_allclose(out, expected[None] @ weight.numpy().T + bias.numpy(), rtol=1e-10)


@pytest.mark.parametrize("fused", [True, False])
def test_damped_sine_uses_its_own_eps(fused):
    """eps (when given) is where |u| is clamped before sqrt: below it sqrt(|u|) reads sqrt(eps)."""
    act = DampedSine(w0=10.0, damping="sqrt", eps=0.25, fused=fused)
    z = torch.tensor([0.001, 0.01, -0.02, 0.1], dtype=torch.float64)
    u = 10.0 * z.numpy()
    expected = np.sin(u) * np.sqrt(np.maximum(np.abs(u), 0.25))
    np.testing.assert_allclose(act(z).numpy(), expected, rtol=1e-12)
    weight = torch.eye(4, dtype=torch.float64)
    np.testing.assert_allclose(act.then_affine(z[None], weight, None).numpy()[0], expected, rtol=1e-12)


def test_damped_sine_routes_to_the_fused_kernels_only_when_fused(monkeypatch):
    """fused=True goes through nn/fused.py's damped_sine and nn/fused_linear.py's
    damped_sine_affine with the activation's own settings; fused=False through neither."""
    import inr_bench.nn.activations as activations

    calls = []

    def spy(name, real):
        def wrapper(*args):
            calls.append((name, args[1:] if name == "damped_sine" else args[3:]))
            return real(*args)

        return wrapper

    monkeypatch.setattr(activations, "damped_sine", spy("damped_sine", activations.damped_sine))
    monkeypatch.setattr(activations, "damped_sine_affine", spy("affine", activations.damped_sine_affine))
    z, weight = torch.rand(4, 3), torch.rand(2, 3)
    act = DampedSine(w0=7.0, damping="arctan", damping_input="raw", eps=1e-3, fused=True)
    act(z)
    act.then_affine(z, weight, None)
    assert calls == [("damped_sine", (7.0, "arctan", "raw", 1e-3)), ("affine", (7.0, "arctan", "raw", 1e-3))]
    calls.clear()
    eager = DampedSine(w0=7.0, damping="arctan", fused=False)
    eager(z)
    eager.then_affine(z, weight, None)
    assert calls == []


def test_gaussian_tail_cut_exactly_below_the_smallest_normal():
    """_gaussian keeps exp(-x) down to x = -log(tiny), where it is the smallest normal number, and
    sets it to 0 only beyond."""
    from inr_bench.nn.activations import _gaussian
    from inr_bench.nn.damping import safe_eps

    cutoff = torch.tensor([-math.log(safe_eps(torch.float64))], dtype=torch.float64)
    assert _gaussian(cutoff).item() > 0
    assert _gaussian(cutoff * (1 + 1e-12)).item() == 0.0


def test_constructor_checks_name_the_bad_value():
    with pytest.raises(ValueError, match="sigma must be > 0, got -1"):
        Gauss(sigma=-1.0)
    with pytest.raises(ValueError, match="first_bias_scale must be > 0 or None, got 0"):
        Finer(first_bias_scale=0.0)
    assert Finer(first_bias_scale=0.5).first_bias_scale == 0.5  # any positive scale
    assert "sigma=0.09" in repr(Gauss()) and "omega0=20.0, s0=10.0" in repr(Wire())
    assert "first_bias_scale=20.0" in repr(Finer())


def test_finer_first_bias_spans_both_signs():
    torch.manual_seed(0)
    bias = build(Finer, width=256).linears[0].bias.detach()
    assert bias.max() > 16 and bias.min() < -16
