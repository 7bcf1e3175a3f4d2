"""PSNR and rho_AG against independent NumPy references."""

import math

import numpy as np
import pytest
import torch

from inr_bench.metrics import RhoAG, evaluate_signal, psnr, psnr_paper_convention, rho_ag


def numpy_rho(pred, target, axes, centered=False):
    a = np.abs(np.fft.fftn(pred, axes=axes)).ravel()
    g = np.abs(np.fft.fftn(target, axes=axes)).ravel()
    if centered:
        a, g = a - a.mean(), g - g.mean()
    return float(a @ g / (np.linalg.norm(a) * np.linalg.norm(g)))


def test_psnr_formula():
    assert psnr(1e-4, 2.0) == pytest.approx(10 * math.log10(4 / 1e-4))
    assert psnr(0.0, 2.0) == math.inf


def test_paper_convention_inflates_good_fits():
    # REFERENCE.md: a true 66 dB reads about 84 dB in the reference helper's convention.
    mse = 4.0 / 10**6.6
    assert psnr(mse, 2.0) == pytest.approx(66.0)
    assert psnr_paper_convention(mse, 2.0) == pytest.approx(84.0, abs=0.2)
    mse_255 = mse * 127.5**2
    assert psnr_paper_convention(mse, 2.0) == pytest.approx(20 * math.log10(255 / mse_255))


@pytest.mark.parametrize(
    "shape, ndim", [((300, 1), 1), ((17, 23, 1), 2), ((5, 9, 11, 1), 3), ((16, 16, 3), 2)]
)
@pytest.mark.parametrize("variant", ["reference", "centered"])
def test_rho_ag_matches_numpy(shape, ndim, variant):
    rng = np.random.default_rng(0)
    target = rng.uniform(-1, 1, size=shape)
    pred = target + 0.3 * rng.normal(size=shape)
    axes = tuple(range(ndim))
    expected = numpy_rho(pred, target, axes, variant == "centered")
    got = rho_ag(torch.from_numpy(pred), torch.from_numpy(target), ndim, variant)
    assert float(got) == pytest.approx(expected, rel=1e-10)


def test_rho_ag_metric_averages_signals():
    rng = np.random.default_rng(1)
    metric = RhoAG(signal_ndim=2)
    expected = []
    for _ in range(3):
        target = rng.uniform(-1, 1, size=(8, 8, 1))
        pred = target + rng.normal(size=target.shape)
        metric.update(torch.from_numpy(pred), torch.from_numpy(target))
        expected.append(numpy_rho(pred, target, (0, 1)))
    assert float(metric.compute()) == pytest.approx(np.mean(expected), rel=1e-10)


def test_rho_ag_of_identical_signals_is_one():
    x = torch.rand(32, 32, 1)
    assert float(rho_ag(x, x, 2)) == pytest.approx(1.0)


def test_evaluate_signal():
    rng = np.random.default_rng(2)
    target = rng.uniform(-1, 1, size=(32 * 32, 1)).astype(np.float32)
    pred = target + 0.01 * rng.normal(size=target.shape).astype(np.float32)
    metrics = evaluate_signal(torch.from_numpy(pred), torch.from_numpy(target), (32, 32), 2.0)
    mse = float(np.mean((pred.astype(np.float64) - target) ** 2))
    assert metrics["loss"] == pytest.approx(mse, rel=1e-6)
    assert metrics["psnr"] == pytest.approx(10 * np.log10(4 / mse), rel=1e-6)
    assert 0.9 < metrics["ssim"] <= 1.0
    assert metrics["rho_ag"] == pytest.approx(
        numpy_rho(pred.reshape(32, 32, 1), target.reshape(32, 32, 1), (0, 1)), rel=1e-5
    )
