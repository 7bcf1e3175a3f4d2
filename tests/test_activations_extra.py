"""Gauss, WIRE (real Gabor) and FINER: formulas, their papers' initialisations, a short fit."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from inr_bench.nn.activations import Finer, Gauss, Wire
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
