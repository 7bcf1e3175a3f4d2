"""The downstream tasks' classical baselines against independent implementations and known answers.

- bicubic_upsample: a NumPy Keys cubic convolution (a = -0.75, half-pixel centres, replicated
  borders) written from the formula, on real DIV2K crops; constants, sample positions and a ramp
  (whose 2x error with a = -0.75 is derived by hand) as known cases. The super-resolution target's
  antialiased bilinear downsample against PIL's BILINEAR resize.
- linear_interpolate: scipy.interpolate.interp1d on real speech; a linear ramp is exact.
- fft_upsample / bandlimited_interpolate: scipy.signal.resample (periodic Fourier resampling) on real
  speech; a sum of sinusoids below the training Nyquist frequency, periodic on the clip, is recovered.
- average_of_neighbours: a NumPy mean on real video frames; linear-in-time frames are exact,
  quadratic-in-time ones are off by a known amount.
- finite_difference_gradient: np.gradient given the coordinate arrays, and hand-written slices, on a
  real image; linear and quadratic functions with known gradients. sobel_gradient: a NumPy stencil
  and scipy.ndimage.sobel with the normalisation 1 / (2 h 4^(d-1)); linear functions in 2-D and 3-D.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, signal
from scipy.interpolate import interp1d

from inr_bench.data.image import preprocess_image, read_image_file, to_unit_float
from inr_bench.tasks.audio_interp import bandlimited_interpolate, fft_upsample, linear_interpolate
from inr_bench.tasks.frame_interp import average_of_neighbours, held_out_frames
from inr_bench.tasks.gradients import (
    compare_gradients,
    finite_difference_gradient,
    grid_spacing,
    sobel_gradient,
)
from inr_bench.tasks.superres import bicubic_upsample, ground_truth_at

pytestmark = pytest.mark.usefixtures("one_thread")


def div2k(shared_data, index: int = 3, size: int = 32, channels: str = "first") -> np.ndarray:
    """A real DIV2K crop (top-left 2*size square) preprocessed as the project does: (size, size, C)
    float32 in [-1, 1]."""
    pixels = read_image_file(shared_data / "div2k" / f"div2k_crop_{index:02d}.png")
    return preprocess_image(pixels[: 2 * size, : 2 * size], size, channels=channels)


def speech(shared_data, start: int = 20000, count: int = 2045) -> np.ndarray:
    """A real speech piece (CMU ARCTIC, 16 kHz), float64."""
    import soundfile

    samples, rate = soundfile.read(
        shared_data / "audio" / "arctic_a0007.wav", start=start, stop=start + count, dtype="float64"
    )
    assert rate == 16000 and samples.shape == (count,) and np.abs(samples).max() > 0.05
    return samples


# ------------------------------------------------------------------ bicubic


def keys_kernel(x: float, a: float = -0.75) -> float:
    """Keys (1981) cubic convolution kernel W(x)."""
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def keys_resample_axis(values: np.ndarray, out_n: int, axis: int, a: float = -0.75) -> np.ndarray:
    """1-D cubic convolution along `axis`, one output sample at a time: output j sits at input
    position p = (j + 0.5) n / out_n - 0.5 (half-pixel centres); taps floor(p) - 1 .. floor(p) + 2
    with weights W(p - tap); taps outside [0, n - 1] read the nearest edge sample (replicated border)."""
    values = np.moveaxis(values.astype(np.float64), axis, 0)
    n = values.shape[0]
    out = np.zeros((out_n, *values.shape[1:]))
    for j in range(out_n):
        p = (j + 0.5) * n / out_n - 0.5
        base = math.floor(p)
        for tap in range(base - 1, base + 3):
            out[j] += keys_kernel(p - tap, a) * values[min(max(tap, 0), n - 1)]
    return np.moveaxis(out, 0, axis)


def numpy_bicubic(image: np.ndarray, size: tuple[int, int], a: float = -0.75) -> np.ndarray:
    """Separable: rows, then columns, of (H, W, C)."""
    return keys_resample_axis(keys_resample_axis(image, size[0], 0, a), size[1], 1, a)


@pytest.mark.parametrize(
    "size, out, channels", [(16, (32, 32), "first"), (16, (64, 64), "first"), (12, (30, 44), "rgb")]
)
def test_bicubic_matches_numpy_keys_convolution_on_real_crops(shared_data, size, out, channels):
    """bicubic_upsample against the NumPy Keys convolution (a = -0.75) on DIV2K crops at x2, x4 and
    a non-square, non-integer size with three channels. Tolerance: float32 rounding of values in
    [-1, 1] (measured < 1e-6); a = -0.5 (PIL, MATLAB) moves pixels by ~1e-2."""
    image = div2k(shared_data, size=size, channels=channels)
    got = bicubic_upsample(image, out)
    assert got.shape == (*out, image.shape[-1])
    expected = numpy_bicubic(image, out)
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(expected - numpy_bicubic(image, out, a=-0.5)).max() > 1e-3  # the kernel matters here


def test_bicubic_known_cases_constant_samples_and_ramp():
    """Known answers for a = -0.75:
    - a constant image stays constant (the weights of every position sum to 1);
    - at x3 every third output pixel sits on an input pixel (p = j/3 - 1/3 is an integer for
      j = 1, 4, ...) and reproduces it exactly (W(0) = 1, W(+-1) = W(+-2) = 0);
    - a linear ramp is NOT reproduced at quarter-pixel positions: at p = i + 1/4 the weights are
      W(5/4), W(1/4), W(3/4), W(7/4) = -27/256, 225/256, 67/256, -9/256, whose first moment is
      (27 + 67 - 18) / 256 = 76/256 = 1/4 + 3/64: away from the borders a ramp of slope s upsampled
      x2 reads s (p + 3/64) at p = i + 1/4 and s (p - 3/64) at p = i + 3/4. (With a = -0.5 the
      weights are -18, 222, 58, -6 over 256 and the ramp would be exact.)"""
    constant = np.full((6, 7, 2), 0.37, dtype=np.float32)
    assert np.allclose(bicubic_upsample(constant, (24, 21)), 0.37, atol=1e-6)

    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, size=(8, 8, 1)).astype(np.float32)
    x3 = bicubic_upsample(image, (24, 24))
    assert np.allclose(x3[1::3, 1::3], image, atol=1e-6)

    weights = [keys_kernel(1.25), keys_kernel(0.25), keys_kernel(0.75), keys_kernel(1.75)]
    assert [w * 256 for w in weights] == [-27, 225, 67, -9]
    slope = 0.25
    ramp = np.tile(slope * np.arange(12, dtype=np.float32), (4, 1))[..., None]
    out = bicubic_upsample(ramp, (8, 24))[0, :, 0]
    position = (np.arange(24) + 0.5) / 2 - 0.5
    error = out - slope * position
    inner = slice(4, 20)  # taps inside the image: away from the replicated borders
    # output j sits at p = j/2 - 1/4: p = i + 3/4 for even j (error -3/64 by symmetry), i + 1/4 odd
    expected = np.where(np.arange(24) % 2 == 1, 3 / 64, -3 / 64)
    assert np.allclose(error[inner], slope * expected[inner], atol=1e-6)


def test_superres_target_downsample_matches_pil_bilinear(shared_data):
    """ground_truth_at's antialiased bilinear downsample (side > size) against PIL's BILINEAR
    resize, the triangle filter widened by the scale factor, at x2, x4 and 64 -> 24."""
    pixels = read_image_file(shared_data / "div2k" / "div2k_crop_03.png")
    source = to_unit_float(pixels)[:64, :64, :1]
    for size in ((32, 32), (16, 16), (24, 24)):
        target, _, interpolated = ground_truth_at(source, size)
        pil = np.asarray(Image.fromarray(source[..., 0]).resize(size[::-1], Image.BILINEAR))
        assert not interpolated
        assert np.abs(target[..., 0] - (2 * pil - 1)).max() < 1e-5


# ------------------------------------------------------------------ audio: linear


def test_linear_interpolate_matches_scipy_interp1d_on_speech(shared_data):
    """Every 8th sample of a real speech piece (2045 samples: the last known is 2040, so 2041-2044
    lie past it and hold its value) against scipy.interpolate.interp1d (linear, held at the ends)."""
    clip = speech(shared_data)
    known = np.arange(0, clip.shape[0], 8)
    query = np.arange(clip.shape[0])
    got = linear_interpolate(known, clip[known], query)
    reference = interp1d(
        known, clip[known], kind="linear", bounds_error=False, fill_value=(clip[0], clip[known[-1]])
    )
    assert np.allclose(got, reference(query), rtol=0, atol=1e-12)
    assert np.array_equal(got[known], clip[known])
    assert np.all(got[2041:] == clip[2040])


def test_linear_interpolate_reproduces_a_ramp():
    """Known answer: a linear ramp known at every 4th sample is exact at every sample between."""
    ramp = 0.5 - 0.0123 * np.arange(101)
    known = np.arange(0, 101, 4)
    assert np.allclose(linear_interpolate(known, ramp[known], np.arange(101)), ramp, atol=1e-12)


# ------------------------------------------------------------------ audio: band-limited


@pytest.mark.parametrize("count", [1024, 1016])  # 128 (even) and 127 (odd) training samples
@pytest.mark.parametrize("factor", [2, 4, 8])
def test_fft_upsample_matches_scipy_resample_on_speech(shared_data, count, factor):
    """fft_upsample of every 8th sample of real speech against scipy.signal.resample (periodic
    Fourier resampling to M * factor samples; an even M's Nyquist bin split in two halves), and
    bandlimited_interpolate as that output read at the query indices."""
    clip = speech(shared_data, count=count)
    known = clip[::8]
    reference = signal.resample(known, known.shape[0] * factor)
    got = fft_upsample(known, factor)
    assert got.shape == reference.shape
    assert np.allclose(got, reference, rtol=0, atol=1e-12)
    assert np.allclose(got[::factor], known, atol=1e-12)  # keeps the known samples
    query = np.arange(0, known.shape[0] * factor, 3)
    assert np.allclose(bandlimited_interpolate(known, factor, query), reference[query], atol=1e-12)


@pytest.mark.parametrize("training_samples", [64, 63])
def test_bandlimited_interpolation_recovers_periodic_sinusoids_below_nyquist(training_samples):
    """Known answer: a sum of sinusoids with whole numbers of cycles on the clip (periodic), all
    below the training Nyquist frequency (M/2 cycles for M training samples), is band-limited:
    every 8th sample determines it, and every sample of the clip is recovered to 1e-9."""
    stride = 8
    length = training_samples * stride
    n = np.arange(length)
    rng = np.random.default_rng(1)
    cycles = [1, 5, 17, 31]
    clip = sum(
        rng.uniform(0.1, 1.0) * np.cos(2 * np.pi * c * n / length + rng.uniform(0, 2 * np.pi)) for c in cycles
    )
    got = bandlimited_interpolate(clip[::stride], stride, n)
    assert np.abs(got - clip).max() < 1e-9
    assert np.abs(linear_interpolate(n[::stride], clip[::stride], n) - clip).max() > 1e-2  # not trivial


# ------------------------------------------------------------------ frames


def video_frames(shared_data, count: int = 7) -> np.ndarray:
    """The first `count` frames of bikes.mp4 decoded with PyAV: channel 0, a 32x32 centre crop,
    (T, 32, 32, 1) in [-1, 1]."""
    import av

    frames = []
    with av.open(str(shared_data / "video" / "bikes.mp4")) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            top, left = (rgb.shape[0] - 32) // 2, (rgb.shape[1] - 32) // 2
            frames.append(rgb[top : top + 32, left : left + 32, :1])
            if len(frames) == count:
                break
    return np.stack(frames).astype(np.float32) / 127.5 - 1.0


def test_average_of_neighbours_on_real_frames(shared_data):
    """Real video frames: the held-out frames 1, 3, 5 of 7 are predicted by np.mean of frames
    (0, 2), (2, 4), (4, 6); the prediction is not the truth (the clip moves)."""
    frames = video_frames(shared_data)
    index = held_out_frames(frames.shape[0])
    assert index.tolist() == [1, 3, 5]
    got = average_of_neighbours(frames, index)
    expected = np.stack([np.mean(frames[[t - 1, t + 1]], axis=0) for t in (1, 3, 5)])
    assert np.allclose(got, expected, atol=1e-7)
    assert np.abs(got - frames[index]).max() > 1e-2


def test_average_of_neighbours_known_linear_and_quadratic_in_time(shared_data):
    """Known answers: frames A + t B (A, B real DIV2K crops) are linear in time, so the average of
    the neighbours is frame t exactly; frames t^2 C are off by exactly C, since
    ((t - 1)^2 + (t + 1)^2) / 2 = t^2 + 1."""
    a, b = div2k(shared_data, index=1).astype(np.float64), div2k(shared_data, index=2).astype(np.float64)
    t = np.arange(8, dtype=np.float64).reshape(8, 1, 1, 1)
    index = held_out_frames(8)
    assert index.tolist() == [1, 3, 5]  # frame 7 has no right neighbour
    linear = a + t * b
    assert np.allclose(average_of_neighbours(linear, index), linear[index], atol=1e-12)
    quadratic = t**2 * a
    assert np.allclose(average_of_neighbours(quadratic, index) - quadratic[index], a, atol=1e-12)


# ------------------------------------------------------------------ gradients


def coordinate_axes(shape, scale: float) -> list[np.ndarray]:
    """The training grid: linspace(-1, 1, n) * scale per axis."""
    return [np.linspace(-1.0, 1.0, n) * scale for n in shape]


@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_finite_differences_match_np_gradient_of_coordinates_on_a_real_image(shared_data, scale):
    """A real crop of 32 x 24 (different spacing per axis): finite_difference_gradient with
    grid_spacing against np.gradient given the coordinate arrays themselves (not a spacing), and
    against central / one-sided differences written with slices."""
    image = div2k(shared_data, size=32)[:, :24].astype(np.float64)
    shape = image.shape[:2]
    spacing = grid_spacing(shape, scale)
    got = finite_difference_gradient(image, spacing)
    assert got.shape == (*shape, 1, 2)
    axes = coordinate_axes(shape, scale)
    for axis in range(2):
        reference = np.gradient(image[..., 0], axes[axis], axis=axis)
        assert np.allclose(got[..., 0, axis], reference, rtol=1e-12, atol=1e-9)
    v, h = image[..., 0], axes[0][1] - axes[0][0]
    assert np.allclose(got[1:-1, :, 0, 0], (v[2:] - v[:-2]) / (2 * h), atol=1e-9)
    assert np.allclose(got[0, :, 0, 0], (v[1] - v[0]) / h, atol=1e-9)
    assert np.allclose(got[-1, :, 0, 0], (v[-1] - v[-2]) / h, atol=1e-9)


def test_finite_differences_of_known_functions():
    """Known answers on the grid linspace(-1, 1, n) * 1.5 (17 x 29): f = 3x - 2y + 0.5 has gradient
    (3, -2) everywhere, borders included; f = x^2 + xy / 2 - y^2 has (2x + y/2, x/2 - 2y), exact for
    central differences inside; a 3-D (video-shaped) f = t - 2x + 4y has (1, -2, 4)."""
    scale = 1.5
    x, y = np.meshgrid(*coordinate_axes((17, 29), scale), indexing="ij")
    spacing = grid_spacing((17, 29), scale)
    linear = finite_difference_gradient((3 * x - 2 * y + 0.5)[..., None], spacing)[..., 0, :]
    assert np.allclose(linear, [3.0, -2.0], atol=1e-12)
    quadratic = finite_difference_gradient((x**2 + x * y / 2 - y**2)[..., None], spacing)[..., 0, :]
    assert np.allclose(quadratic[1:-1, :, 0], (2 * x + y / 2)[1:-1], atol=1e-12)
    assert np.allclose(quadratic[:, 1:-1, 1], (x / 2 - 2 * y)[:, 1:-1], atol=1e-12)
    t, x3, y3 = np.meshgrid(*coordinate_axes((5, 9, 7), 1.0), indexing="ij")
    video = finite_difference_gradient((t - 2 * x3 + 4 * y3)[..., None], grid_spacing((5, 9, 7)))
    assert np.allclose(video[..., 0, :], [1.0, -2.0, 4.0], atol=1e-12)


def numpy_sobel(values: np.ndarray, spacing) -> np.ndarray:
    """(*shape) -> (*shape, d): the Sobel stencil written with slices of an edge-padded array:
    (v[i+1] - v[i-1]) along the axis, (1, 2, 1) / 4 along every other axis, divided by 2 h."""
    d = values.ndim
    padded = np.pad(values.astype(np.float64), 1, mode="edge")

    def shifted(offsets):
        return padded[tuple(slice(1 + o, padded.shape[k] - 1 + o) for k, o in enumerate(offsets))]

    parts = []
    for axis in range(d):
        total = np.zeros(values.shape)
        for offsets in np.ndindex(*(3,) * d):
            offsets = [o - 1 for o in offsets]
            if offsets[axis] == 0:
                continue
            weight = offsets[axis] * np.prod(
                [(1, 2, 1)[o + 1] / 4 for k, o in enumerate(offsets) if k != axis]
            )
            total += weight * shifted(offsets)
        parts.append(total / (2 * spacing[axis]))
    return np.stack(parts, axis=-1)


def test_sobel_matches_numpy_stencil_and_scaled_scipy_sobel_on_real_signals(shared_data):
    """sobel_gradient of a real crop (2-D, 2 channels) and of real frames (3-D) against the NumPy
    stencil, and against scipy.ndimage.sobel(mode='nearest') / (2 h 4^(d-1)) per channel."""
    image = np.concatenate([div2k(shared_data, size=24), div2k(shared_data, index=9, size=24)], axis=-1)
    frames = video_frames(shared_data, count=4)[:, :16, :20]
    for values, scale in ((image, 1.0), (frames, 3.0)):
        d = values.ndim - 1
        spacing = grid_spacing(values.shape[:-1], scale)
        got = sobel_gradient(values, spacing)
        assert got.shape == (*values.shape, d)
        for c in range(values.shape[-1]):
            assert np.allclose(got[..., c, :], numpy_sobel(values[..., c], spacing), atol=1e-9)
            for axis in range(d):
                scaled = ndimage.sobel(values[..., c].astype(np.float64), axis=axis, mode="nearest")
                scaled /= 2 * spacing[axis] * 4 ** (d - 1)
                assert np.allclose(got[..., c, axis], scaled, atol=1e-9)


def test_sobel_of_linear_functions_is_the_gradient_inside():
    """Known answers: Sobel of a linear function is its gradient away from the borders, in 2-D
    (f = 3x - 2y) and 3-D (f = t - 2x + 4y: the smoothing weights of two other axes sum to 16);
    at a border across the derivative axis the replicated edge halves it: (f1 - f0) / 2h."""
    x, y = np.meshgrid(*coordinate_axes((9, 13), 2.0), indexing="ij")
    got = sobel_gradient((3 * x - 2 * y)[..., None], grid_spacing((9, 13), 2.0))[..., 0, :]
    assert np.allclose(got[1:-1, 1:-1], [3.0, -2.0], atol=1e-12)
    assert np.allclose(got[0, 1:-1, 0], 1.5, atol=1e-12) and np.allclose(got[1:-1, -1, 1], -1.0, atol=1e-12)
    t, x3, y3 = np.meshgrid(*coordinate_axes((5, 9, 7), 1.0), indexing="ij")
    video = sobel_gradient((t - 2 * x3 + 4 * y3)[..., None], grid_spacing((5, 9, 7)))[..., 0, :]
    assert np.allclose(video[1:-1, 1:-1, 1:-1], [1.0, -2.0, 4.0], atol=1e-12)


def test_compare_gradients_known_values():
    """Known answers: a field against twice itself has cosine 1, against its negative -1; 1.1 times
    a field of unit vectors has relative L2 error 0.1 and magnitude PSNR 10 log10(1 / 0.1^2) = 20 dB."""
    angle = np.random.default_rng(2).uniform(0, 2 * np.pi, size=(6, 5, 1))
    unit = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    assert compare_gradients(2 * unit, unit)["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert compare_gradients(-unit, unit)["cosine"] == pytest.approx(-1.0, abs=1e-12)
    scaled = compare_gradients(1.1 * unit, unit)
    assert scaled["relative_l2"] == pytest.approx(0.1, abs=1e-12)
    assert scaled["magnitude_psnr"] == pytest.approx(20.0, abs=1e-9)
