"""The fused damped-sine kernels compute the same function as eager autograd.

Compilation is slow on a CPU: every test reuses the kernels of one (damping, dtype), which
compile once per process whatever the shape, w0 or damping_input (see nn/fused.py).
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pytest
import torch

from curves import assert_within_float32_rounding, fit_losses
from inr_bench.nn import fused
from inr_bench.nn.activations import DampedSine
from inr_bench.nn.damping import DAMPINGS, safe_eps
from inr_bench.nn.fused import damped_sine, eager_damped_sine
from inr_bench.nn.mlp import CoordinateMLP

W0 = 30.0
EPS32 = safe_eps(torch.float32)
MODES = ("scaled", "raw")
# Exactly at and near 0 first, then ordinary values over several periods of sin(30 z).
SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 1e-3, -1e-3]


@pytest.fixture(autouse=True)
def fuse_every_size(monkeypatch):
    """Small test tensors would otherwise take the eager path (see fused.min_fused_numel)."""
    monkeypatch.setenv("INR_BENCH_FUSED_MIN_NUMEL", "0")
    monkeypatch.delenv("INR_BENCH_FUSED", raising=False)


def _inputs(dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(3000, generator=generator, dtype=torch.float64) * 0.5
    z[: len(SPECIAL)] = torch.tensor(SPECIAL, dtype=torch.float64)
    grad = torch.randn(3000, generator=generator, dtype=torch.float64)
    return z.to(dtype), grad.to(dtype)


def _value_and_grad(fn, z: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    z = z.detach().clone().requires_grad_(True)
    y = fn(z)
    y.backward(grad)
    return y.detach(), z.grad


def _close(actual: torch.Tensor, expected: torch.Tensor, rtol: float) -> None:
    """Within rtol of the reference, relative to the tensor's scale (atol = rtol * max|ref|)."""
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual.double(), expected.double(), rtol=rtol, atol=rtol * scale)


def _reference(z: torch.Tensor, grad: torch.Tensor, damping: str, mode: str, eps: float):
    """Float64 eager autograd on the very same inputs."""
    return _value_and_grad(lambda t: eager_damped_sine(t, W0, damping, mode, eps), z.double(), grad.double())


def test_every_damping_has_a_hand_written_derivative():
    assert all(DAMPINGS[name].derivative is not None for name in DAMPINGS)


@pytest.mark.parametrize("damping", sorted(DAMPINGS))
def test_float32_fused_matches_float64_reference(damping):
    z, grad = _inputs(torch.float32, seed=sorted(DAMPINGS).index(damping))
    for mode in MODES:  # both modes share one compiled kernel pair
        y, g = _value_and_grad(partial(damped_sine, w0=W0, damping=damping, damping_input=mode), z, grad)
        y_ref, g_ref = _reference(z, grad, damping, mode, EPS32)
        assert torch.isfinite(y).all() and torch.isfinite(g).all(), (damping, mode)
        # Relative to the tensor's scale: float32 rounding of u = 30 z alone moves sin(u) by
        # ~|u| * 6e-8, which is large *relative* to sin(u) only where sin(u) crosses 0.
        _close(y, y_ref, 1e-5)
        _close(g, g_ref, 1e-5)
        # At and near 0 (no cancellation there): elementwise relative, down to what float32
        # can represent at all (u^2 at z = 1e-30 underflows, in eager float32 too).
        n = len(SPECIAL)
        torch.testing.assert_close(g[:n].double(), g_ref[:n], rtol=1e-5, atol=EPS32)
        torch.testing.assert_close(y[:n].double(), y_ref[:n], rtol=1e-5, atol=EPS32)


@pytest.mark.parametrize("damping", ["sqrt", "log"])
def test_float64_fused_matches_float64_reference_elementwise(damping):
    z, grad = _inputs(torch.float64, seed=7)
    eps = safe_eps(torch.float64)
    for mode in MODES:
        y, g = _value_and_grad(partial(damped_sine, w0=W0, damping=damping, damping_input=mode), z, grad)
        y_ref, g_ref = _reference(z, grad, damping, mode, eps)
        torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=0.0)
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-12 * g_ref.abs().max().item())
        assert torch.isfinite(g).all()


def test_no_recompilation_for_new_sizes_w0_or_mode():
    from torch._dynamo.utils import counters

    x = torch.randn(64, 8, requires_grad=True)
    damped_sine(x, W0, "sqrt").sum().backward()  # compiled (or cached) here
    before = counters["stats"]["unique_graphs"]
    for shape, w0, mode in [((5, 3), 30.0, "raw"), ((33, 7), 12.5, "scaled"), ((1000, 256), 1.0, "raw")]:
        x = torch.randn(*shape, requires_grad=True)
        y = damped_sine(x, w0, "sqrt", mode)
        y.backward(torch.ones_like(y))
        reference = partial(eager_damped_sine, w0=w0, damping="sqrt", damping_input=mode, eps=EPS32)
        y_ref, g_ref = _value_and_grad(reference, x, torch.ones_like(y))
        _close(y, y_ref, 1e-5)
        _close(x.grad, g_ref, 1e-5)
    assert counters["stats"]["unique_graphs"] == before


def test_small_activations_run_eagerly_by_default(monkeypatch):
    monkeypatch.delenv("INR_BENCH_FUSED_MIN_NUMEL")
    leaf = torch.randn(32, 16, requires_grad=True)
    assert "DampedSineFunction" not in type(damped_sine(leaf).grad_fn).__name__


def test_no_grad_and_module_flag_and_env_var_give_the_same_function(monkeypatch):
    z = torch.randn(40, 16)
    fused_act, eager_act = DampedSine(W0, "sqrt"), DampedSine(W0, "sqrt", fused=False)
    with torch.no_grad():
        _close(fused_act(z), eager_act(z), 1e-5)
    leaf = z.clone().requires_grad_(True)
    assert type(fused_act(leaf).grad_fn).__name__.startswith("_DampedSineFunction")
    assert "DampedSineFunction" not in type(eager_act(leaf).grad_fn).__name__
    monkeypatch.setenv("INR_BENCH_FUSED", "0")
    y = fused_act(leaf)
    assert "DampedSineFunction" not in type(y.grad_fn).__name__
    torch.testing.assert_close(y, eager_act(leaf), rtol=0.0, atol=0.0)


def test_compile_failure_warns_once_in_one_line_and_falls_back_to_eager(monkeypatch):
    def no_compiler(*args, **kwargs):
        raise RuntimeError("C++ compiler not found\nsecond line of a long message")

    eps = safe_eps(torch.float32)
    kernels = fused._Kernels(("test",), "sqrt", eps)
    kernels.compiled = {name: no_compiler for name in fused.COMPILED_KERNELS}
    key = (DAMPINGS["sqrt"], eps, torch.float32, "cpu", None)
    monkeypatch.setitem(fused._CACHE, key, kernels)
    monkeypatch.setattr(fused, "_WARNED", False)
    z, grad = _inputs(torch.float32, seed=3)
    y_ref, g_ref = _value_and_grad(lambda t: eager_damped_sine(t, W0, "sqrt", "scaled", eps), z, grad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            y, g = _value_and_grad(lambda t: damped_sine(t, W0, "sqrt"), z, grad)
            _close(y, y_ref, 1e-5)
            _close(g, g_ref, 1e-5)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "\n" not in messages[0] and "eager" in messages[0]
    assert kernels.broken


def test_double_backward_matches_eager():
    z = torch.randn(50, dtype=torch.float64) * 0.3
    results = []
    for fn in (
        lambda t: damped_sine(t, W0, "sqrt"),
        lambda t: eager_damped_sine(t, W0, "sqrt", "scaled", 1e-300),
    ):
        x = z.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(x).sum(), x, create_graph=True)
        (gg,) = torch.autograd.grad(g.sum(), x)
        results.append((g.detach(), gg))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-5, atol=0.0)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-5, atol=1e-8)


def _camera_32() -> tuple[torch.Tensor, torch.Tensor]:
    from skimage import data
    from skimage.transform import resize

    image = data.camera().astype(np.float64) / 255.0  # 512x512, already square (top-left crop)
    small = resize(image, (32, 32), order=1, anti_aliasing=True)
    values = torch.from_numpy(small * 2.0 - 1.0).float().reshape(-1, 1)
    side = torch.linspace(-1.0, 1.0, 32)
    coords = torch.stack(torch.meshgrid(side, side, indexing="ij"), dim=-1).reshape(-1, 2)
    return coords, values


def _fit(fused_path: bool, coords: torch.Tensor, values: torch.Tensor, dtype=torch.float32) -> np.ndarray:
    torch.manual_seed(0)
    net = CoordinateMLP(2, 1, partial(DampedSine, w0=W0, damping="sqrt", fused=fused_path), width=64)
    net = net.to(dtype)
    return fit_losses(net, coords.to(dtype), values.to(dtype), steps=50)


def test_fifty_step_fit_follows_the_eager_loss_curve():
    coords, values = _camera_32()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add waiting on a busy machine
    try:
        fused_losses = _fit(True, coords, values)
        eager_losses = _fit(False, coords, values)
        exact_losses = _fit(False, coords, values, dtype=torch.float64)
    finally:
        torch.set_num_threads(threads)
    assert fused_losses[-1] < 0.5 * fused_losses[0]  # it does learn
    assert_within_float32_rounding(fused_losses, eager_losses, exact_losses)
