"""The activation-then-linear path (nn/fused_linear.py) computes layer(damped_sine(z)) exactly,
keeps one full-size tensor per layer, and refuses what it cannot do instead of computing wrong.

References are float64 eager autograd of the formulas, on the very same (float32) inputs.
"""

from __future__ import annotations

import copy
from functools import partial

import pytest
import torch

from curves import assert_within_float32_rounding, fit_losses
from inr_bench.nn import fused_linear
from inr_bench.nn.activations import DampedSine
from inr_bench.nn.damping import DAMPINGS, safe_eps
from inr_bench.nn.fused import eager_damped_sine
from inr_bench.nn.fused_linear import damped_sine_linear
from inr_bench.nn.mlp import CoordinateMLP

W0 = 30.0
# Exactly at and near 0 first (the damping's kink and eps clamp), then ordinary values.
SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 1e-3, -1e-3]


@pytest.fixture(autouse=True)
def fuse_every_size(monkeypatch):
    monkeypatch.setenv("INR_BENCH_FUSED_MIN_NUMEL", "0")
    monkeypatch.delenv("INR_BENCH_FUSED", raising=False)


def _layer_inputs(seed: int, rows: int = 400, width: int = 48, out: int = 24):
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(rows, width, generator=generator, dtype=torch.float64) * 0.3
    z.view(-1)[: len(SPECIAL)] = torch.tensor(SPECIAL, dtype=torch.float64)
    layer = torch.nn.Linear(width, out)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(out, width, generator=generator) * 0.1)
        layer.bias.copy_(torch.randn(out, generator=generator))
    grad = torch.randn(rows, out, generator=generator, dtype=torch.float64)
    return z.float(), layer, grad.float()


def _close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5) -> None:
    """Within rtol of the reference relative to the tensor's scale (atol = rtol * max|ref|)."""
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual.double(), expected.double(), rtol=rtol, atol=rtol * scale)


def _reference(z, layer, grad, damping, mode):
    """float64 eager: layer(sin(w0 z) delta(v)), autograd, on the same values."""
    z64 = z.double().requires_grad_(True)
    w = layer.weight.detach().double().requires_grad_(True)
    b = layer.bias.detach().double().requires_grad_(True)
    a = eager_damped_sine(z64, W0, damping, mode, safe_eps(torch.float32))
    y = a @ w.t() + b
    y.backward(grad.double())
    return y.detach(), z64.grad, w.grad, b.grad


@pytest.mark.parametrize("damping", sorted(DAMPINGS))
def test_layer_matches_float64_reference_for_an_intermediate_z(damping):
    z, layer, grad = _layer_inputs(seed=sorted(DAMPINGS).index(damping))
    for mode in ("scaled", "raw"):
        layer.zero_grad(set_to_none=True)
        leaf = z.clone().requires_grad_(True)
        intermediate = leaf * 1.0  # not a leaf: its storage takes its gradient in backward
        intermediate.retain_grad()
        y = damped_sine_linear(intermediate, layer, W0, damping, mode)
        assert type(y.grad_fn).__name__.startswith("_DampedSineLinearFunction")
        y.backward(grad)
        y_ref, gz_ref, gw_ref, gb_ref = _reference(z, layer, grad, damping, mode)
        assert torch.isfinite(leaf.grad).all(), (damping, mode)
        _close(y, y_ref)
        _close(leaf.grad, gz_ref)
        _close(layer.weight.grad, gw_ref)
        _close(layer.bias.grad, gb_ref)
        # At and near 0, elementwise: the eps clamp and the kinks behave as in eager autograd.
        n = len(SPECIAL)
        torch.testing.assert_close(
            leaf.grad.view(-1)[:n].double(),
            gz_ref.view(-1)[:n],
            rtol=1e-5,
            atol=1e-5 * gz_ref.abs().max().item(),
        )


def test_a_leaf_z_keeps_its_values_and_gets_the_same_gradient():
    z, layer, grad = _layer_inputs(seed=11)
    leaf = z.clone().requires_grad_(True)
    before = leaf.detach().clone()
    damped_sine_linear(leaf, layer, W0, "sqrt").backward(grad)
    torch.testing.assert_close(leaf.detach(), before, rtol=0.0, atol=0.0)
    _close(leaf.grad, _reference(z, layer, grad, "sqrt", "scaled")[1])


def test_no_grad_forward_equals_the_layer_wise_path():
    z, layer, _ = _layer_inputs(seed=12)
    with torch.no_grad():
        fused = damped_sine_linear(z, layer, W0, "sqrt")
        layer_wise = layer(eager_damped_sine(z, W0, "sqrt", "scaled", safe_eps(torch.float32)))
    _close(fused, layer_wise)


def test_a_second_backward_through_the_graph_is_a_clear_error():
    z, layer, grad = _layer_inputs(seed=13)
    intermediate = z.clone().requires_grad_(True) * 1.0
    y = damped_sine_linear(intermediate, layer, W0, "sqrt")
    (y * grad).sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="INR_BENCH_FUSED=0"):
        (y * grad).sum().backward()


def test_double_backward_through_the_layer_matches_eager():
    z, layer, _ = _layer_inputs(seed=14)
    z = z.double()
    layer = layer.double()
    results = []
    for fn in (
        lambda t: damped_sine_linear(t, layer, W0, "sqrt"),
        lambda t: layer(eager_damped_sine(t, W0, "sqrt", "scaled", safe_eps(torch.float64))),
    ):
        leaf = z.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(leaf * 1.0).pow(2).sum(), leaf, create_graph=True)
        (gg,) = torch.autograd.grad(g.sum(), leaf)
        results.append((g.detach(), gg))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-7, atol=1e-8)


def _mlp(fused: bool, damping: str = "sqrt") -> CoordinateMLP:
    torch.manual_seed(0)
    return CoordinateMLP(
        2, 1, partial(DampedSine, w0=W0, damping=damping, fused=fused), width=32, hidden_layers=3
    )


def test_mlp_output_and_every_parameter_gradient_match_float64_eager():
    coords = torch.rand(300, 2) * 2 - 1
    net, reference = _mlp(True), _mlp(False).double()
    y = net(coords)
    assert type(y.grad_fn).__name__.startswith("_DampedSineLinearFunction")
    y.pow(2).mean().backward()
    y_ref = reference(coords.double())
    y_ref.pow(2).mean().backward()
    # Float32 rounding through 5 layers: the same bound eager float32 meets against float64.
    _close(y, y_ref, 1e-4)
    for (name, p), q in zip(net.named_parameters(), reference.parameters(), strict=True):
        _close(p.grad, q.grad, 2e-3 if name.startswith("linears.0") else 1e-4)


def test_input_gradients_take_the_layer_wise_path_and_support_double_backward():
    """Fitting image gradients differentiates twice through the network."""
    coords = (torch.rand(200, 2, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    net, reference = _mlp(True).double(), _mlp(False).double()
    grads = []
    for model in (net, reference):
        (g,) = torch.autograd.grad(model(coords).sum(), coords, create_graph=True)
        g.pow(2).sum().backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


def test_each_layer_keeps_one_full_size_tensor_for_backward():
    """Saved for backward, per step: eager keeps about five activation-sized tensors per layer;
    this path keeps z (the previous layer's output) and nothing else of that size."""
    coords = torch.rand(512, 2) * 2 - 1

    def saved_full_size(model) -> int:
        pointers = set()

        def pack(tensor):
            if tensor.shape == (512, 32):
                pointers.add(tensor.untyped_storage().data_ptr())
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = model(coords).pow(2).mean()
        loss.backward()
        return len(pointers)

    layers = 4
    assert saved_full_size(_mlp(True)) == layers  # z of every activated layer, once each
    assert saved_full_size(_mlp(False)) >= 3 * layers


def test_the_scratch_buffer_is_reused_between_steps():
    net = _mlp(True)
    coords = torch.rand(256, 2) * 2 - 1
    pointers = []
    for _ in range(3):
        net(coords).pow(2).mean().backward()
        pointers.append(fused_linear._scratch(torch.empty(256, 32)).data_ptr())
    assert len(set(pointers)) == 1
    fused_linear.release_scratch()


def test_training_after_inference_mode_evaluation():
    """Lightning evaluates under inference mode; the scratch made there must not leak into training."""
    fused_linear.release_scratch()
    net = _mlp(True)
    coords = torch.rand(256, 2) * 2 - 1
    with torch.inference_mode():
        net(coords)
    net(coords).pow(2).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_fifty_steps_of_fitting_follow_the_layer_wise_path():
    coords = torch.rand(1024, 2) * 2 - 1
    values = torch.sin(4 * coords[:, :1]) * torch.cos(3 * coords[:, 1:])
    fused_losses, eager_losses = (
        fit_losses(_mlp(fused), coords, values, steps=50) for fused in (True, False)
    )
    exact_losses = fit_losses(_mlp(False).double(), coords.double(), values.double(), steps=50)
    assert fused_losses[-1] < 0.5 * fused_losses[0]
    assert_within_float32_rounding(fused_losses, eager_losses, exact_losses)


def test_a_deep_copy_of_a_fused_network_trains_alike():
    """Nothing about the fused path lives in the module: copies and state dicts are plain."""
    net = _mlp(True)
    twin = copy.deepcopy(net)
    coords = torch.rand(128, 2) * 2 - 1
    net(coords).sum().backward()
    twin(coords).sum().backward()
    for p, q in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=0.0, atol=0.0)


def test_stacked_networks_match_each_network_alone():
    """(K, N, in) with weights (K, out, in): what the batched many-signal fitting uses."""
    k = 3
    generator = torch.Generator().manual_seed(21)
    z = (torch.randn(k, 200, 16, generator=generator) * 0.3).requires_grad_(True)
    weight = (torch.randn(k, 8, 16, generator=generator) * 0.2).requires_grad_(True)
    bias = torch.randn(k, 1, 8, generator=generator).requires_grad_(True)
    grad = torch.randn(k, 200, 8, generator=generator)
    y = fused_linear.damped_sine_affine(z * 1.0, weight, bias, W0, "sqrt")
    assert type(y.grad_fn).__name__.startswith("_DampedSineLinearFunction")
    y.backward(grad)
    for i in range(k):
        layer = torch.nn.Linear(16, 8)
        with torch.no_grad():
            layer.weight.copy_(weight[i])
            layer.bias.copy_(bias[i, 0])
        y_ref, gz_ref, gw_ref, gb_ref = _reference(z[i].detach(), layer, grad[i], "sqrt", "scaled")
        _close(y[i], y_ref)
        _close(z.grad[i], gz_ref)
        _close(weight.grad[i], gw_ref)
        _close(bias.grad[i, 0], gb_ref)
