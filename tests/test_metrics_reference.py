"""The metrics against independent implementations and known answers, on real signals.

- PSNR against scikit-image's `peak_signal_noise_ratio` on a DIV2K crop at data ranges 2, 1 and 255
  (at range 2, data_range**2 == data_range*2: only the other ranges catch that slip).
- The paper's PSNR convention on a real crop at an MSE whose reference-helper value is 20 dB exactly.
- SSIM against scikit-image's `structural_similarity` (Gaussian window, sigma 1.5, 11 taps,
  population covariance, K1 0.01, K2 0.03, the same data range) on real crops and degraded copies.
- rho_AG (both variants) against NumPy (np.fft.fftn, np.abs, np.dot / np.corrcoef) and against values
  derived by hand for pure tones, for 1-D, 2-D and 3-D signals, batched, through the RhoAG metric and
  through evaluate_signal.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inr_bench.data.image import preprocess_image, read_image_file
from inr_bench.metrics import RhoAG, evaluate_signal, psnr, psnr_paper_convention, rho_ag

pytestmark = pytest.mark.usefixtures("one_thread")

# (how [-1, 1] data is mapped, the data range of the mapped values)
RANGES = {
    "[-1,1]": (lambda x: x, 2.0),
    "[0,1]": (lambda x: (x + 1.0) / 2.0, 1.0),
    "[0,255]": (lambda x: (x + 1.0) * 127.5, 255.0),
}

# torchmetrics computes SSIM in float32 (11x11 convolutions of x, x^2, x*y, variances by
# E[x^2] - E[x]^2); against scikit-image in float64 the measured gap is <= 3e-7 at all three data
# ranges. 1e-5 leaves a 30x margin, while using a wrong data range (2 for 1 or 255, 1 for 2)
# moves SSIM by more than 2e-2 on these images, 2000x the tolerance (checked in the test).
SSIM_TOL = 1e-5


def div2k(shared_data, index: int = 3, size: int = 64, channels: str = "first") -> np.ndarray:
    """A real DIV2K crop: the top-left 2*size square, read and preprocessed as the project does,
    resized to size x size, float32 in [-1, 1], (size, size, C)."""
    pixels = read_image_file(shared_data / "div2k" / f"div2k_crop_{index:02d}.png")
    return preprocess_image(pixels[: 2 * size, : 2 * size], size, channels=channels)


def noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (image + sigma * rng.normal(size=image.shape)).astype(np.float32)


def blurred(image: np.ndarray) -> np.ndarray:
    """A structural degradation: Gaussian blur of each channel (sigma 1 pixel)."""
    return ndimage.gaussian_filter(image, sigma=(1.0, 1.0, 0.0), mode="nearest").astype(np.float32)


def evaluate(pred: np.ndarray, target: np.ndarray, data_range: float, **kwargs) -> dict:
    """evaluate_signal on channels-last arrays (*signal_shape, C), flattened as the project does."""
    shape = target.shape[:-1]
    channels = target.shape[-1]
    return evaluate_signal(
        torch.from_numpy(np.ascontiguousarray(pred).reshape(-1, channels)),
        torch.from_numpy(np.ascontiguousarray(target).reshape(-1, channels)),
        shape,
        data_range,
        **kwargs,
    )


# ------------------------------------------------------------------ PSNR


@pytest.mark.parametrize("value_range", list(RANGES))
def test_psnr_matches_skimage_on_a_real_crop(shared_data, value_range):
    """psnr() and evaluate_signal's "psnr" against skimage.metrics.peak_signal_noise_ratio with the
    stated data range, on a DIV2K crop and a noisy copy mapped to [-1,1], [0,1] and [0,255]."""
    to_range, data_range = RANGES[value_range]
    target = to_range(div2k(shared_data)).astype(np.float32)
    pred = noisy(target, 0.02 * data_range)
    expected = peak_signal_noise_ratio(target, pred, data_range=data_range)
    metrics = evaluate(pred, target, data_range)
    assert metrics["psnr"] == pytest.approx(expected, rel=1e-9)
    mse = float(np.mean((pred.astype(np.float64) - target.astype(np.float64)) ** 2))
    assert psnr(mse, data_range) == pytest.approx(expected, rel=1e-9)
    assert 25.0 < expected < 45.0  # a realistic reconstruction, not a degenerate case


def test_paper_psnr_on_a_real_crop_is_20_db_at_mse_25_5_on_the_255_scale(shared_data):
    """Known answer from the reference helper's formula: on [-1, 1] data an error of +-d with
    d^2 = 1/637.5 gives MSE = 1/637.5; mapped to [0, 255] the MSE is 127.5^2 / 637.5 = 25.5 and
    20 log10(255 / 25.5) = 20 dB, while the true PSNR is 10 log10(4 * 637.5) = 34.0654 dB.
    The same crop on [0, 255] (error +-d * 127.5, range 255) must read the same."""
    target = div2k(shared_data).astype(np.float64)
    signs = np.where(np.indices(target.shape).sum(0) % 2 == 0, 1.0, -1.0)
    pred = target + signs * np.sqrt(1 / 637.5)
    metrics = evaluate(pred, target, 2.0)
    assert metrics["psnr_paper"] == pytest.approx(20.0, abs=1e-9)
    assert metrics["psnr"] == pytest.approx(34.0654, abs=1e-4)
    metrics_255 = evaluate((pred + 1) * 127.5, (target + 1) * 127.5, 255.0)
    assert metrics_255["psnr_paper"] == pytest.approx(20.0, abs=1e-9)
    assert psnr_paper_convention(metrics_255["loss"], 255.0) == pytest.approx(20.0, abs=1e-9)


# ------------------------------------------------------------------ SSIM


def skimage_ssim(pred: np.ndarray, target: np.ndarray, data_range: float) -> float:
    """scikit-image SSIM with torchmetrics' settings. Both use an 11-tap Gaussian window (sigma 1.5,
    truncated at 3.5 sigma), population covariance and K1 = 0.01, K2 = 0.03. They differ only at the
    borders: torchmetrics pads each image by 5 pixels (torch 'reflect', edge not repeated) and averages
    the SSIM map over all H x W pixels; scikit-image averages only the pixels whose window lies inside
    the image. Padding with np.pad(mode='reflect') by 5 before calling scikit-image makes its inner
    region exactly the H x W pixels torchmetrics averages. Channels-last, mean over channels."""
    pad = [(5, 5), (5, 5), (0, 0)]
    return structural_similarity(
        np.pad(target.astype(np.float64), pad, mode="reflect"),
        np.pad(pred.astype(np.float64), pad, mode="reflect"),
        data_range=data_range,
        gaussian_weights=True,
        sigma=1.5,
        win_size=11,
        use_sample_covariance=False,
        K1=0.01,
        K2=0.03,
        channel_axis=-1,
    )


@pytest.mark.parametrize("degrade", ["noise", "blur"])
@pytest.mark.parametrize("value_range", list(RANGES))
def test_ssim_matches_skimage_on_a_real_crop(shared_data, value_range, degrade):
    """evaluate_signal's "ssim" against skimage.metrics.structural_similarity (matching settings, see
    skimage_ssim) on a DIV2K crop with a noisy or blurred copy, at data ranges 2, 1 and 255."""
    to_range, data_range = RANGES[value_range]
    target = to_range(div2k(shared_data, size=48)).astype(np.float32)
    pred = noisy(target, 0.05 * data_range) if degrade == "noise" else blurred(target)
    expected = skimage_ssim(pred, target, data_range)
    assert evaluate(pred, target, data_range)["ssim"] == pytest.approx(expected, abs=SSIM_TOL)
    # the test has power: the SSIM at a wrong data range is far outside the tolerance
    wrong = skimage_ssim(pred, target, 1.0 if data_range == 2.0 else 2.0)
    assert abs(wrong - expected) > 100 * SSIM_TOL
    assert 0.3 < expected < 0.99


def test_ssim_matches_skimage_on_rgb_and_is_one_for_identical_images(shared_data):
    """Three channels: the mean of the per-channel SSIMs (skimage channel_axis); identical images: 1."""
    target = div2k(shared_data, index=7, size=32, channels="rgb")
    pred = noisy(target, 0.1, seed=3)
    assert evaluate(pred, target, 2.0)["ssim"] == pytest.approx(skimage_ssim(pred, target, 2.0), abs=SSIM_TOL)
    assert evaluate(target, target, 2.0)["ssim"] == pytest.approx(1.0, abs=1e-6)


def test_ssim_of_a_video_is_the_mean_of_per_frame_skimage_ssim(shared_data):
    """Video (T, H, W, C): evaluate_signal's SSIM is the mean over frames of 2-D SSIM (skimage)."""
    frames = np.stack([div2k(shared_data, index=i, size=24) for i in (0, 1, 2)])
    pred = noisy(frames, 0.1, seed=4)
    expected = np.mean([skimage_ssim(pred[t], frames[t], 2.0) for t in range(3)])
    assert evaluate(pred, frames, 2.0)["ssim"] == pytest.approx(expected, abs=SSIM_TOL)


# ------------------------------------------------------------------ rho_AG: helpers


def numpy_rho(pred: np.ndarray, target: np.ndarray, signal_ndim: int, variant: str) -> float:
    """Independent rho_AG of one channels-last signal: np.fft.fftn over the signal axes, np.abs,
    then a plain cosine (np.dot, DC included) or Pearson's correlation (np.corrcoef)."""
    axes = tuple(range(signal_ndim))
    a = np.abs(np.fft.fftn(pred, axes=axes)).ravel()
    g = np.abs(np.fft.fftn(target, axes=axes)).ravel()
    if variant == "centered":
        return float(np.corrcoef(a, g)[0, 1])
    return float(np.dot(a, g) / np.sqrt(np.dot(a, a) * np.dot(g, g)))


def torch_rho(pred: np.ndarray, target: np.ndarray, signal_ndim: int, variant: str) -> float:
    return float(rho_ag(torch.from_numpy(pred), torch.from_numpy(target), signal_ndim, variant))


def tone(shape: tuple[int, ...], k: tuple[int, ...], phase: float = 0.0) -> np.ndarray:
    """cos(2 pi k . n / N + phase) on a grid of `shape`, channels-last (..., 1). With every 2 k_i
    different from 0 mod N_i, |FFT| is prod(N) / 2 at the bins +k and -k and 0 elsewhere."""
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    argument = sum(2 * np.pi * ki * g / n for ki, g, n in zip(k, grids, shape, strict=True))
    return np.cos(argument + phase)[..., None]


# (signal shape, a tone's frequency, another frequency) for 1-D audio, 2-D images, 3-D video
TONES = [
    ((8,), (1,), (2,)),
    ((64,), (5,), (11,)),
    ((8, 8), (1, 2), (3, 1)),
    ((4, 6, 8), (1, 1, 1), (1, 2, 3)),
]


# ------------------------------------------------------------------ rho_AG: known spectra


@pytest.mark.parametrize("shape, k, _other", TONES)
@pytest.mark.parametrize("variant", ["reference", "centered"])
def test_rho_of_a_tone_and_the_same_tone_phase_shifted_is_one(shape, k, _other, variant):
    """Known answer: a tone against the same tone (and against it phase-shifted by 1 rad, same
    |FFT|) gives rho = 1 exactly, in both variants, in 1-D, 2-D and 3-D."""
    target = tone(shape, k)
    assert torch_rho(target.copy(), target, len(shape), variant) == pytest.approx(1.0, abs=1e-12)
    assert torch_rho(tone(shape, k, phase=1.0), target, len(shape), variant) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("shape, k, other", TONES)
def test_rho_of_tones_at_different_frequencies_hand_derived(shape, k, other):
    """Known answer: two tones at different frequencies have disjoint |FFT| supports (2 bins of height
    M/2 each, M = prod(shape) bins). Reference variant: the cosine is 0. Centered variant: the mean
    magnitude is 1, so sum (u - 1)(v - 1) = 0 - M - M + M = -M and sum (u - 1)^2 = M^2/2 - M:
    rho = -2 / (M - 2) (-1/3 for 8 samples). NumPy's corrcoef agrees."""
    m = int(np.prod(shape))
    pred, target = tone(shape, other), tone(shape, k)
    ndim = len(shape)
    assert torch_rho(pred, target, ndim, "reference") == pytest.approx(0.0, abs=1e-12)
    assert torch_rho(pred, target, ndim, "centered") == pytest.approx(-2 / (m - 2), abs=1e-12)
    assert numpy_rho(pred, target, ndim, "centered") == pytest.approx(-2 / (m - 2), abs=1e-12)


def test_reference_and_centered_differ_by_a_hand_derived_margin():
    """Known answer where the variants disagree clearly: 1 + cos(2 pi n/8) against
    1 + cos(2 pi 3n/8) (8 samples). |FFT|: DC 8 in both, and 4 at bins +-1 or +-3. Reference:
    8*8 / (8^2 + 2*4^2) = 64/96 = 2/3. Centered (mean magnitude 2): (64 - 32 - 32 + 32) / (96 - 64 + 32)
    = 32/64 = 1/2. Swapping the variants fails both assertions."""
    target, pred = 1 + tone((8,), (1,)), 1 + tone((8,), (3,))
    assert torch_rho(pred, target, 1, "reference") == pytest.approx(2 / 3, abs=1e-12)
    assert torch_rho(pred, target, 1, "centered") == pytest.approx(1 / 2, abs=1e-12)


@pytest.mark.parametrize("shape", [(4096,), (32, 32), (6, 16, 16)])
def test_rho_of_independent_white_noise_against_numpy(shape):
    """White noise against independent white noise, against NumPy in both variants. The magnitudes
    are Rayleigh-like, with a positive mean, so the plain cosine is near pi/4 = 0.785 while the
    Pearson correlation is near 0: the variants differ by far more than any tolerance."""
    rng = np.random.default_rng(5)
    pred, target = rng.normal(size=(*shape, 1)), rng.normal(size=(*shape, 1))
    ndim = len(shape)
    reference = torch_rho(pred, target, ndim, "reference")
    centered = torch_rho(pred, target, ndim, "centered")
    assert reference == pytest.approx(numpy_rho(pred, target, ndim, "reference"), abs=1e-12)
    assert centered == pytest.approx(numpy_rho(pred, target, ndim, "centered"), abs=1e-12)
    assert reference - centered > 0.5


def real_signals(shared_data) -> dict[int, np.ndarray]:
    """One real signal per dimensionality, channels-last: a speech piece, a DIV2K crop, and three
    DIV2K crops stacked as a short 'video'."""
    import soundfile

    audio, _ = soundfile.read(shared_data / "audio" / "arctic_a0007.wav", start=20000, stop=21000)
    image = div2k(shared_data, size=32).astype(np.float64)
    video = np.stack([div2k(shared_data, index=i, size=16) for i in (0, 5, 9)]).astype(np.float64)
    return {1: audio[:, None], 2: image, 3: video}


@pytest.mark.parametrize("variant", ["reference", "centered"])
def test_rho_is_one_for_shifted_and_scaled_copies_of_real_signals(shared_data, variant):
    """Known answers on real audio, image and video: |FFT| is invariant under circular shifts
    (np.roll along every signal axis) and proportional under scaling (x 3.7, x -0.5), so rho = 1
    in both variants. A noisy copy matches NumPy and is below 1."""
    for ndim, signal in real_signals(shared_data).items():
        shifts, axes = (7, 3, 1)[:ndim], tuple(range(ndim))
        rolled = np.roll(signal, shifts, axis=axes)
        assert not np.allclose(rolled, signal)
        for copy in (rolled, 3.7 * signal, -0.5 * signal):
            assert torch_rho(copy, signal, ndim, variant) == pytest.approx(1.0, abs=1e-12)
        degraded = signal + np.random.default_rng(ndim).normal(scale=0.2, size=signal.shape)
        value = torch_rho(degraded, signal, ndim, variant)
        assert value == pytest.approx(numpy_rho(degraded, signal, ndim, variant), abs=1e-12)
        assert value < 0.999


@pytest.mark.parametrize("variant", ["reference", "centered"])
def test_batched_rho_gives_each_signal_its_own_value(shared_data, variant):
    """A leading batch axis: one value per signal, equal to that signal's unbatched value and to
    NumPy's, for 1-D, 2-D and 3-D signals."""
    rng = np.random.default_rng(6)
    for ndim, signal in real_signals(shared_data).items():
        targets = np.stack([signal, np.roll(signal, 2, axis=0), signal**2])
        scales = np.array([0.05, 0.3, 1.0]).reshape(3, *[1] * signal.ndim)
        preds = targets + scales * rng.normal(size=targets.shape)
        values = rho_ag(torch.from_numpy(preds), torch.from_numpy(targets), ndim, variant)
        assert values.shape == (3,)
        for b in range(3):
            alone = torch_rho(preds[b], targets[b], ndim, variant)
            assert float(values[b]) == pytest.approx(alone, abs=1e-12)
            assert alone == pytest.approx(numpy_rho(preds[b], targets[b], ndim, variant), abs=1e-12)
        assert len({round(float(v), 6) for v in values}) == 3  # three different values, not one mean


@pytest.mark.parametrize("variant", ["reference", "centered"])
def test_rho_metric_is_the_mean_over_signals_and_honours_the_variant(variant):
    """RhoAG over updates of 1, 3 and 2 signals is the mean over all 6 signals (NumPy), not the
    mean of the per-update means; the variant is honoured: for the tone pair of 8 samples the
    expected values are 0 (reference) and -1/3 (centered)."""
    rng = np.random.default_rng(7)
    metric = RhoAG(signal_ndim=1, variant=variant)
    expected = []
    for batch in (None, 3, 2):
        shape = (64, 1) if batch is None else (batch, 64, 1)
        target = rng.normal(size=shape)
        pred = target + rng.normal(scale=rng.uniform(0.1, 2.0), size=shape)
        metric.update(torch.from_numpy(pred), torch.from_numpy(target))
        pairs = [(pred, target)] if batch is None else list(zip(pred, target, strict=True))
        expected += [numpy_rho(p, t, 1, variant) for p, t in pairs]
    assert len(expected) == 6
    assert float(metric.compute()) == pytest.approx(np.mean(expected), abs=1e-12)

    tones = RhoAG(signal_ndim=1, variant=variant)
    tones.update(torch.from_numpy(tone((8,), (2,))), torch.from_numpy(tone((8,), (1,))))
    assert float(tones.compute()) == pytest.approx(0.0 if variant == "reference" else -1 / 3, abs=1e-12)


def test_evaluate_signal_honours_the_rho_variant(shared_data):
    """evaluate_signal(..., rho_variant=...): the 8x8 tone pair gives 0 (reference, the default) and
    -2/62 (centered, hand-derived); a real crop and a noisy copy match NumPy in each variant."""
    pred, target = tone((8, 8), (3, 1)), tone((8, 8), (1, 2))
    assert evaluate(pred, target, 2.0)["rho_ag"] == pytest.approx(0.0, abs=1e-12)
    assert evaluate(pred, target, 2.0, rho_variant="reference")["rho_ag"] == pytest.approx(0.0, abs=1e-12)
    assert evaluate(pred, target, 2.0, rho_variant="centered")["rho_ag"] == pytest.approx(-2 / 62, abs=1e-12)
    image = div2k(shared_data, size=32).astype(np.float64)
    degraded = noisy(image, 0.3, seed=8).astype(np.float64)
    for variant in ("reference", "centered"):
        value = evaluate(degraded, image, 2.0, rho_variant=variant)["rho_ag"]
        assert value == pytest.approx(numpy_rho(degraded, image, 2, variant), abs=1e-12)
