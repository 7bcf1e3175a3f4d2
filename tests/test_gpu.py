"""The CUDA path (`pytest -m gpu`, run by `make gpu-check`; skipped without a GPU): the compiled
kernels of every damping (Triton, through torch.compile) against the eager formulation in
float64, forward and backward, on random and on real inputs, alone and fused with the next
linear layer, and a short fit on the GPU that follows the CPU's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inr_bench.data.image import preprocess_image, read_image_file
from inr_bench.nn.damping import DAMPINGS, safe_eps
from inr_bench.nn.fused import damped_sine, eager_damped_sine
from inr_bench.nn.fused_linear import damped_sine_affine

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (make gpu-check)"),
]
W0, EPS = 30.0, safe_eps(torch.float32)
# relative to the tensor's scale: float32 rounding of u = 30 z alone moves sin(u) by ~|u| * 6e-8
RTOL = 2e-5


@pytest.fixture(autouse=True)
def fuse_every_size(monkeypatch):
    monkeypatch.setenv("INR_BENCH_FUSED_MIN_NUMEL", "0")
    torch.backends.cuda.matmul.allow_tf32 = False


def random_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator(device="cuda").manual_seed(seed)
    z = torch.randn(4096, 256, device="cuda", generator=generator) * 0.1
    z[:8, :8] = 0.0  # the clamps at and near 0
    z[8:16, :8] = 1e-9
    return z, torch.randn(z.shape, device="cuda", generator=generator)


def real_inputs(shared_data) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-activations of a SIREN-initialised first layer on a real DIV2K crop (64x64)."""
    image = preprocess_image(read_image_file(shared_data / "div2k" / "div2k_crop_05.png"), 64)
    side = torch.linspace(-1, 1, 64, device="cuda")
    coords = torch.stack(torch.meshgrid(side, side, indexing="ij"), -1).reshape(-1, 2)
    torch.manual_seed(0)
    layer = torch.nn.Linear(2, 256).cuda()
    with torch.no_grad():
        layer.weight.uniform_(-0.5, 0.5)
    grad = torch.from_numpy(np.repeat(image.reshape(-1, 1), 256, axis=1)).float().cuda()
    return layer(coords).detach(), grad


def value_and_grad(fn, z, grad):
    z = z.detach().clone().requires_grad_(True)
    y = fn(z)
    y.backward(grad)
    return y.detach(), z.grad


def close(actual, expected):
    scale = float(expected.abs().max())
    torch.testing.assert_close(actual.double(), expected.double(), rtol=RTOL, atol=RTOL * scale)


@pytest.mark.parametrize("damping", sorted(DAMPINGS))
@pytest.mark.parametrize("mode", ["scaled", "raw"])
def test_compiled_activation_matches_float64_eager(damping, mode, shared_data):
    for z, grad in (random_inputs(sorted(DAMPINGS).index(damping)), real_inputs(shared_data)):
        y, g = value_and_grad(lambda t: damped_sine(t, W0, damping, mode, EPS), z, grad)
        y_ref, g_ref = value_and_grad(
            lambda t: eager_damped_sine(t, W0, damping, mode, EPS), z.double(), grad.double()
        )
        assert y.is_cuda and torch.isfinite(y).all() and torch.isfinite(g).all()
        close(y, y_ref)
        close(g, g_ref)


@pytest.mark.parametrize("damping", sorted(DAMPINGS))
def test_compiled_activation_and_linear_layer_match_float64_eager(damping):
    z, _ = random_inputs(100 + sorted(DAMPINGS).index(damping))
    torch.manual_seed(1)
    layer = torch.nn.Linear(256, 64).cuda()
    grad = torch.randn(z.shape[0], 64, device="cuda")
    # z must be an intermediate (the fused layer overwrites it with its gradient)
    base = z.detach().clone().requires_grad_(True)
    fused = damped_sine_affine(base * 1.0, layer.weight, layer.bias, W0, damping, "scaled", EPS)
    fused.backward(grad)
    reference_in = z.double().requires_grad_(True)
    weight = layer.weight.detach().double().requires_grad_(True)
    reference = eager_damped_sine(reference_in, W0, damping, "scaled", EPS) @ weight.t() + layer.bias.double()
    reference.backward(grad.double())
    close(fused.detach(), reference.detach())
    close(base.grad, reference_in.grad)
    close(layer.weight.grad, weight.grad)


def test_a_fit_on_the_gpu_follows_the_cpu(make_config):
    """The same 30 steps on both devices: float32 rounding apart, the same loss curve."""
    from inr_bench.train import train

    losses = {}
    for accelerator in ("cpu", "gpu"):
        cfg = make_config(
            "data=div2k", "data.size=32", "trainer.max_steps=30", "eval_steps=[30]", "save_outputs=false",
            f"trainer.accelerator={accelerator}", subdir=accelerator,
        )  # fmt: skip
        losses[accelerator] = train(cfg)["final"]["loss"]
    assert losses["gpu"] == pytest.approx(losses["cpu"], rel=0.05)
