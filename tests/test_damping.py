"""Damping functions and the damped-sine activation against independent NumPy formulas."""

import numpy as np
import pytest
import torch

from inr_bench.errors import InrBenchError
from inr_bench.nn.activations import DampedSine
from inr_bench.nn.damping import DAMPINGS, Damping, get_damping, register_damping, safe_eps

NUMPY_DAMPINGS = {
    "sqrt": lambda u: np.sqrt(np.abs(u)),
    "log": lambda u: np.log(np.abs(u)),
    "arctan": np.arctan,
    "sqrt_relu": lambda u: np.sqrt(np.maximum(u, 0.0)),
    "identity": lambda u: u,
    "square": lambda u: u**2,
    "relu": lambda u: np.maximum(u, 0.0),
    "one": np.ones_like,
}


def test_every_damping_has_a_numpy_reference():
    assert set(DAMPINGS) == set(NUMPY_DAMPINGS)


@pytest.mark.parametrize("name", sorted(NUMPY_DAMPINGS))
@pytest.mark.parametrize("damping_input", ["scaled", "raw"])
def test_damped_sine_matches_numpy(name, damping_input):
    rng = np.random.default_rng(0)
    z = rng.uniform(-0.2, 0.2, size=1000)
    z = z[np.abs(z) > 1e-6]  # away from 0, where log(|u|) has no finite reference
    u = 30.0 * z
    damped_argument = u if damping_input == "scaled" else z
    expected = np.sin(u) * NUMPY_DAMPINGS[name](damped_argument)
    activation = DampedSine(w0=30.0, damping=name, damping_input=damping_input, fused=False)
    got = activation(torch.tensor(z, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_sqrt_damping_takes_the_post_w0_argument():
    # REFERENCE.md: sqrt(|30 z|), not sqrt(|z|).
    z = torch.tensor([0.01], dtype=torch.float64)
    out = DampedSine(w0=30.0, damping="sqrt", fused=False)(z)
    assert out.item() == pytest.approx(np.sin(0.3) * np.sqrt(0.3), rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["sqrt", "log", "sqrt_relu"])
def test_gradient_finite_at_zero(dtype, name):
    eps = safe_eps(dtype)
    assert torch.tensor(eps, dtype=dtype).item() > 0, "eps must be representable in the compute dtype"
    z = torch.tensor([0.0, eps, -eps, 1e-30, -1e-30, 1e-3], dtype=dtype, requires_grad=True)
    out = DampedSine(damping=name, fused=False)(z)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert torch.isfinite(z.grad).all()


def test_unknown_damping_is_a_clear_error():
    with pytest.raises(InrBenchError, match=r"Unknown damping function 'cubic'.*sqrt.*delta=") as info:
        get_damping("cubic")
    assert "register_damping" in str(info.value) and "delta/<name>.yaml" in str(info.value)


def test_one_makes_spder_exactly_siren():
    z = torch.linspace(-1, 1, 101, dtype=torch.float64)
    np.testing.assert_array_equal(DampedSine(damping="one", fused=False)(z).numpy(), np.sin(30.0 * z.numpy()))


TINY = float(torch.finfo(torch.float32).tiny)  # the clamp bound safe_eps(float32)
POINTS = [0.0, 3e-39, -3e-39, TINY, -TINY, 1e-30, -1e-30, 1e-3, -1e-3, 0.5, -0.5, 3.0, -3.0]


@pytest.mark.parametrize("name", sorted(NUMPY_DAMPINGS))
def test_registry_derivative_is_autograd_of_the_function_clamps_included(name):
    """nn/damping.py: "A derivative matches autograd of its function exactly, clamps included"
    (abs' = sign, 0 at 0; clamp' = [x >= eps]), at 0, inside and at the clamp, and far from it.
    The fused kernels' backward is built from these derivatives."""
    damping = DAMPINGS[name]
    eps = safe_eps(torch.float32)
    v = torch.tensor(POINTS, dtype=torch.float32, requires_grad=True)
    (expected,) = torch.autograd.grad((damping.function(v, eps) + 0 * v).sum(), v)  # "one" has no graph
    derivative = damping.derivative
    got = derivative(v.detach(), eps) if callable(derivative) else torch.full_like(v, derivative)
    got = torch.as_tensor(got, dtype=torch.float32).expand_as(v)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)


def test_register_damping_adds_and_replaces_a_record():
    """A user's damping joins the registry under its name (and a second one of the same name
    replaces the first); the activation then uses it."""
    cubic = Damping("cubic_test", lambda u, eps: u**3, lambda v, eps: 3 * v * v, "u^3", "a test")
    try:
        assert register_damping(cubic) is cubic and get_damping("cubic_test") is cubic
        z = torch.tensor([0.01, -0.02], dtype=torch.float64)
        out = DampedSine(w0=30.0, damping="cubic_test", fused=False)(z)
        np.testing.assert_allclose(out.numpy(), np.sin(30 * z.numpy()) * (30 * z.numpy()) ** 3, rtol=1e-12)
        replacement = Damping("cubic_test", lambda u, eps: u, 1.0, "u", "a test")
        register_damping(replacement)
        assert get_damping("cubic_test") is replacement
    finally:
        DAMPINGS.pop("cubic_test", None)


def test_unknown_damping_lists_every_valid_name():
    with pytest.raises(InrBenchError) as info:
        get_damping("cubic")
    assert "Valid names: arctan, identity, log, one, relu, sqrt, sqrt_relu, square." in str(info.value)
