"""Metric unit tests with known answers: PSNR and the paper's PSNR convention at hand-computed MSEs,
rho_AG against an independent NumPy implementation, the RhoAG metric's averaging and input checks.
Comparisons with scikit-image on real signals, and rho_AG on known spectra, are in
test_metrics_reference.py."""

import math

import numpy as np
import pytest
import torch

from inr_bench.metrics import RhoAG, evaluate_signal, evaluation_steps, psnr, psnr_paper_convention, rho_ag

pytestmark = pytest.mark.usefixtures("one_thread")

LOG10_255_DB = 20 * math.log10(255)  # 48.1308 dB: where the two PSNR conventions agree


def numpy_rho(pred, target, axes, centered=False):
    """rho_AG written independently: NumPy |FFT|, then np.corrcoef (centered) or a plain cosine."""
    a = np.abs(np.fft.fftn(pred, axes=axes)).ravel()
    g = np.abs(np.fft.fftn(target, axes=axes)).ravel()
    if centered:
        return float(np.corrcoef(a, g)[0, 1])
    return float(np.dot(a, g) / (np.linalg.norm(a) * np.linalg.norm(g)))


# ------------------------------------------------------------------ PSNR, known values


def test_psnr_at_hand_computed_mses():
    """Known answers: range 2, MSE 4e-4: 4 / 4e-4 = 1e4 -> 40 dB; range 1, MSE 1e-3: 1e3 -> 30 dB;
    range 255, MSE 65.025 = 255^2 / 1000 -> 30 dB. A perfect fit is +inf."""
    assert psnr(4e-4, 2.0) == pytest.approx(40.0, abs=1e-12)
    assert psnr(1e-3, 1.0) == pytest.approx(30.0, abs=1e-12)
    assert psnr(65.025, 255.0) == pytest.approx(30.0, abs=1e-12)
    assert psnr(0.0, 2.0) == math.inf
    assert psnr_paper_convention(0.0, 2.0) == math.inf


def test_paper_convention_hand_computed_from_reference_formula():
    """The reference helper mapped values onto [0, 255] and computed 20 log10(255 / MSE_255).
    Numbers written out for each data range:
    - [-1, 1] (range 2): MSE = 1/637.5 -> MSE_255 = (255/2)^2 / 637.5 = 16256.25 / 637.5 = 25.5,
      20 log10(255 / 25.5) = 20 log10(10) = 20 dB; the true PSNR is 10 log10(4 * 637.5) = 34.0654 dB.
    - [0, 1] (range 1): MSE = 1/255000 -> MSE_255 = 65025 / 255000 = 0.255, 20 log10(1000) = 60 dB;
      true 10 log10(255000) = 54.0654 dB.
    - [0, 255] (range 255): MSE = 2.55 = MSE_255, 20 log10(100) = 40 dB; true 10 log10(25500) = 44.0654 dB.
    """
    assert psnr_paper_convention(1 / 637.5, 2.0) == pytest.approx(20.0, abs=1e-9)
    assert psnr(1 / 637.5, 2.0) == pytest.approx(34.0654, abs=1e-4)
    assert psnr_paper_convention(1 / 255000, 1.0) == pytest.approx(60.0, abs=1e-9)
    assert psnr(1 / 255000, 1.0) == pytest.approx(54.0654, abs=1e-4)
    assert psnr_paper_convention(2.55, 255.0) == pytest.approx(40.0, abs=1e-9)
    assert psnr(2.55, 255.0) == pytest.approx(44.0654, abs=1e-4)


def test_paper_convention_true_66_db_reads_about_84_db():
    """README / REFERENCE.md: "a true 66 dB reads about 84 dB". A true 66 dB on [-1, 1] is
    MSE = 4 * 10^-6.6; MSE_255 = 127.5^2 * 4 * 10^-6.6 = 255^2 * 10^-6.6, so the helper reads
    20 (6.6 - log10 255) = 132 - 48.1308 = 83.8692 dB."""
    mse = 4.0 * 10**-6.6
    assert psnr(mse, 2.0) == pytest.approx(66.0, abs=1e-9)
    assert psnr_paper_convention(mse, 2.0) == pytest.approx(83.8692, abs=1e-4)


def test_paper_convention_agrees_at_48_db_and_doubles_gaps_above():
    """REFERENCE.md: the helper "doubles every gap above about 48 dB". The conventions agree at a
    true 20 log10(255) = 48.13 dB; a 10 dB gap between true 60 and 70 dB reads as 20 dB."""
    mse_at = {db: 4.0 * 10 ** (-db / 10) for db in (LOG10_255_DB, 60.0, 70.0)}
    assert psnr_paper_convention(mse_at[LOG10_255_DB], 2.0) == pytest.approx(LOG10_255_DB, abs=1e-9)
    gap = psnr_paper_convention(mse_at[70.0], 2.0) - psnr_paper_convention(mse_at[60.0], 2.0)
    assert gap == pytest.approx(20.0, abs=1e-9)


# ------------------------------------------------------------------ rho_AG against NumPy


@pytest.mark.parametrize(
    "shape, ndim", [((300, 1), 1), ((17, 23, 1), 2), ((5, 9, 11, 1), 3), ((16, 16, 3), 2)]
)
@pytest.mark.parametrize("variant", ["reference", "centered"])
def test_rho_ag_matches_numpy(shape, ndim, variant):
    """rho_AG of a noisy copy against NumPy's fftn + cosine / np.corrcoef (odd sizes, 1-3-D,
    several channels whose bins all enter one cosine)."""
    rng = np.random.default_rng(0)
    target = rng.uniform(-1, 1, size=shape)
    pred = target + 0.3 * rng.normal(size=shape)
    axes = tuple(range(ndim))
    expected = numpy_rho(pred, target, axes, variant == "centered")
    got = rho_ag(torch.from_numpy(pred), torch.from_numpy(target), ndim, variant)
    assert float(got) == pytest.approx(expected, rel=1e-10)


def test_rho_ag_metric_averages_signals():
    """RhoAG over three updates equals the mean of NumPy's per-signal values."""
    rng = np.random.default_rng(1)
    metric = RhoAG(signal_ndim=2)
    expected = []
    for _ in range(3):
        target = rng.uniform(-1, 1, size=(8, 8, 1))
        pred = target + rng.normal(size=target.shape)
        metric.update(torch.from_numpy(pred), torch.from_numpy(target))
        expected.append(numpy_rho(pred, target, (0, 1)))
    assert float(metric.compute()) == pytest.approx(np.mean(expected), rel=1e-10)


@pytest.mark.parametrize("variant", ["reference", "centered"])
def test_rho_ag_of_identical_signals_is_one(variant):
    """Known answer: identical signals have identical spectra, rho = 1 in both variants."""
    x = torch.rand(32, 32, 1, generator=torch.Generator().manual_seed(0))
    assert float(rho_ag(x, x, 2, variant)) == pytest.approx(1.0, abs=1e-6)


def test_rho_ag_rejects_unknown_variant_and_shape_mismatch():
    """Input checks: a misspelt variant and mismatched shapes raise instead of returning a number."""
    x = torch.zeros(8, 1)
    with pytest.raises(ValueError, match="variant"):
        rho_ag(x, x, 1, "zero-centered")
    with pytest.raises(ValueError, match="variant"):
        RhoAG(signal_ndim=1, variant="pearson")
    with pytest.raises(ValueError, match="shapes differ"):
        rho_ag(x, torch.zeros(9, 1), 1)
    with pytest.raises(ValueError, match="expects"):
        RhoAG(signal_ndim=2).update(torch.zeros(8, 1), torch.zeros(8, 1))


def test_evaluate_signal_loss_and_audio_has_no_ssim():
    """evaluate_signal's loss is the float64 MSE (NumPy); audio (1-D) gets no SSIM; a perfect fit
    has infinite PSNR in both conventions and rho 1."""
    rng = np.random.default_rng(2)
    target = rng.uniform(-1, 1, size=(256, 1)).astype(np.float32)
    pred = target + 0.01 * rng.normal(size=target.shape).astype(np.float32)
    metrics = evaluate_signal(torch.from_numpy(pred), torch.from_numpy(target), (256,), 2.0)
    assert metrics["loss"] == pytest.approx(np.mean((pred.astype(np.float64) - target) ** 2), rel=1e-12)
    assert metrics["ssim"] is None
    perfect = evaluate_signal(torch.from_numpy(target), torch.from_numpy(target), (256,), 2.0)
    assert perfect["loss"] == 0.0 and perfect["psnr"] == math.inf and perfect["psnr_paper"] == math.inf
    assert perfect["rho_ag"] == pytest.approx(1.0, abs=1e-6)


# ------------------------------------------------------------------ evaluation steps, SSIM size, dtypes


def test_evaluation_steps_known_answers():
    """The steps within the run, deduplicated and sorted, and always the last one."""
    assert evaluation_steps([25, 100, 500], 500) == [25, 100, 500]
    assert evaluation_steps([100, 25, 25, 0, -5, 600], 300) == [25, 100, 300]
    assert evaluation_steps(["50", 1], 50) == [1, 50]
    assert evaluation_steps([], 7) == [7]


def test_ssim_needs_six_pixels_on_each_side():
    """torchmetrics reflect-pads by 5 pixels: SSIM exists from 6x6 up, None below (and for audio)."""
    rng = np.random.default_rng(3)
    for shape, has_ssim in (
        ((6, 6), True),
        ((5, 8), False),
        ((8, 5), False),
        ((2, 6, 6), True),
        ((2, 6, 5), False),
    ):
        target = torch.from_numpy(rng.uniform(-1, 1, size=(int(np.prod(shape)), 1)))
        ssim = evaluate_signal(target + 0.1, target, shape, 2.0)["ssim"]
        assert (ssim is not None) == has_ssim, shape
        if has_ssim:
            assert -1 <= ssim <= 1


def test_rho_ag_keeps_a_float_dtype():
    """float32 in, float32 out; integer signals (their spectra are float) give float32."""
    x = torch.rand(16, 1, generator=torch.Generator().manual_seed(1))
    y = torch.rand(16, 1, generator=torch.Generator().manual_seed(2))
    assert rho_ag(x, y, 1).dtype == torch.float32
    assert rho_ag(x.double(), y.double(), 1).dtype == torch.float64
    ints = rho_ag((x * 100).long(), (y * 100).long(), 1)
    assert ints.dtype == torch.float32
    assert float(ints) == pytest.approx(
        numpy_rho((x * 100).long().numpy(), (y * 100).long().numpy(), (0,)), rel=1e-6
    )


def test_rho_ag_metric_states_sum_across_processes():
    """Two processes' RhoAG states merge by summation (as DDP's sync does): the merged metric is
    the mean over all signals of both, not a mean of means or a stack of two states."""
    rng = np.random.default_rng(4)
    signals = [(rng.uniform(-1, 1, (8, 8, 1)), rng.uniform(-1, 1, (8, 8, 1))) for _ in range(3)]
    first, second = RhoAG(signal_ndim=2), RhoAG(signal_ndim=2)
    for pred, target in signals[:2]:
        first.update(torch.from_numpy(pred), torch.from_numpy(target))
    second.update(torch.from_numpy(signals[2][0]), torch.from_numpy(signals[2][1]))
    first.merge_state(second)
    merged = first.compute()
    assert merged.shape == () and int(first.count) == 3
    assert float(merged) == pytest.approx(np.mean([numpy_rho(p, t, (0, 1)) for p, t in signals]), rel=1e-10)
