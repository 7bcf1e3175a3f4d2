"""Downstream tasks: coordinate bookkeeping (held-out points never trained on, query grids on the
ground truth's sample positions), the classical baselines against hand-computed values, and one
tiny end-to-end run per task."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from inr_bench.data.audio import AudioDataModule
from inr_bench.data.base import CoordinateDataModule, coordinate_grid
from inr_bench.data.image import ImageDataModule
from inr_bench.data.video import VideoDataModule
from inr_bench.errors import InrBenchError
from inr_bench.metrics import rho_ag
from inr_bench.tasks.audio_interp import (
    AudioInterpolation,
    bandlimited_interpolate,
    fft_upsample,
    linear_interpolate,
)
from inr_bench.tasks.base import (
    linspace_grid,
    pixel_centre_axis,
    pixel_centre_grid,
    pixel_centre_positions,
    score,
)
from inr_bench.tasks.frame_interp import FrameInterpolation, average_of_neighbours, held_out_frames
from inr_bench.tasks.gradients import (
    Gradients,
    autograd_gradient,
    compare_gradients,
    finite_difference_gradient,
    grid_spacing,
    sobel_gradient,
)
from inr_bench.tasks.superres import SuperResolution, bicubic_upsample, ground_truth_at
from inr_bench.train import train


@pytest.fixture(autouse=True)
def eager_activations(monkeypatch):
    """These tests check bookkeeping, not kernels: skip compiling the fused activations."""
    monkeypatch.setenv("INR_BENCH_FUSED", "0")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add contention on a shared machine
    yield
    torch.set_num_threads(threads)


class LookupModule:
    """A stand-in INR that knows the true signal only at exact grid coordinates: it returns the
    true value where a query coordinate equals one of `coords` and NaN anywhere else. A task
    whose queries miss the ground truth's sample positions gets NaN metrics."""

    def __init__(self, coords: torch.Tensor, values: torch.Tensor) -> None:
        self.table = {tuple(c.tolist()): v for c, v in zip(coords, values, strict=True)}
        self.channels = values.shape[1]

    def predict_points(self, coords, chunk_size=None):
        nan = torch.full((self.channels,), float("nan"))
        return torch.stack([self.table.get(tuple(c.tolist()), nan) for c in coords])


class LinearINR:
    """A stand-in INR exactly linear in its coordinates: value = coords . weights + bias (one
    channel), fitted by least squares to given points (`fit`). `net` is the same map as a torch
    layer (for autograd); `predict_points` computes it in float64 and records every query."""

    def __init__(self, weights, bias: float) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = float(bias)
        self.net = torch.nn.Linear(len(self.weights), 1)
        with torch.no_grad():
            self.net.weight.copy_(torch.tensor(self.weights[None], dtype=torch.float32))
            self.net.bias.fill_(self.bias)
        self.queries: list[np.ndarray] = []

    @classmethod
    def fit(cls, coords: torch.Tensor, values: torch.Tensor) -> LinearINR:
        x = coords.double().numpy()
        design = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
        solution = np.linalg.lstsq(design, values.double().numpy()[:, 0], rcond=None)[0]
        return cls(solution[:-1], solution[-1])

    def predict_points(self, coords, chunk_size=None):
        x = coords.double().numpy()
        self.queries.append(x)
        return torch.from_numpy(x @ self.weights + self.bias)[:, None].float()


def assert_psnr(value, mse):
    assert value == pytest.approx(10 * np.log10(4.0 / mse), rel=1e-9)


# ------------------------------------------------------------------ super-resolution


def test_pixel_centre_grid_reproduces_training_grid_and_block_centres():
    for n in (8, 31, 64):
        assert torch.allclose(pixel_centre_axis(n, n), torch.linspace(-1, 1, n), atol=1e-6)
        for f in (2, 4, 8):
            axis = pixel_centre_axis(n, n * f).double()
            # each base sample is the centre of its f query points
            assert torch.allclose(axis.reshape(n, f).mean(1), torch.linspace(-1, 1, n).double(), atol=1e-6)
        # odd factors: the base grid is a sub-grid of the query grid
        assert torch.allclose(pixel_centre_axis(n, 3 * n)[1::3], torch.linspace(-1, 1, n), atol=1e-6)
    assert torch.allclose(pixel_centre_grid((6, 9), (6, 9)), coordinate_grid((6, 9)), atol=1e-6)


@pytest.mark.parametrize("base,factor,source", [(64, 8, 512), (64, 4, 512), (32, 2, 64), (512, 8, 4096)])
def test_query_grid_lands_on_target_pixel_centres(base, factor, source):
    size = base * factor
    # base-pixel positions of the query points, mapped onto the source crop's pixel index axis
    source_index = (pixel_centre_positions(base, size) + 0.5) * source / base - 0.5
    target_centres = (np.arange(size) + 0.5) * source / size - 0.5
    assert np.array_equal(source_index, target_centres)
    if size == source:  # the target is the original itself: the queries are its pixels, exactly
        assert np.array_equal(source_index, np.arange(source, dtype=np.float64))


def _tiny_png(tmp_path, side=64, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8)
    path = tmp_path / "tiny.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


def test_superres_queries_hit_the_original_pixels_exactly(tmp_path):
    path, pixels = _tiny_png(tmp_path, side=64)
    dm = ImageDataModule(name="tiny", path=str(path), size=8)
    dm.setup()
    # The lookup INR knows the original 64x64 pixels at the INR coordinates of their centres.
    truth = torch.from_numpy(pixels.astype(np.float32).reshape(-1, 1) / 255 * 2 - 1)
    oracle = LookupModule(pixel_centre_grid((8, 8), (64, 64)), truth)
    record = SuperResolution(factors=[8, 2], save_images=False).run(oracle, dm, tmp_path, "reference")
    x8 = record["factors"]["8"]
    assert x8["size"] == [64, 64] and not x8["target_interpolated"] and "own pixels" in x8["target"]
    assert x8["inr"]["mse"] == 0.0  # every query landed on an original pixel
    assert np.isnan(record["factors"]["2"]["inr"]["mse"])  # 16x16 queries are not original pixels
    assert record["factors"]["2"]["bicubic_from_base"]["mse"] > 0


RAMP = (500.0, 400.0, 1000.0)  # a 16-bit PNG ramp: pixel (row, col) = 500 row + 400 col + 1000


def ramp(row, col):
    """The ramp in [-1, 1] at (fractional) pixel positions of the source image."""
    return (RAMP[0] * np.asarray(row) + RAMP[1] * np.asarray(col) + RAMP[2]) / 65535.0 * 2.0 - 1.0


def ramp_png(tmp_path, side: int):
    rows, cols = np.indices((side, side))
    path = tmp_path / f"ramp{side}.png"
    Image.fromarray((RAMP[0] * rows + RAMP[1] * cols + RAMP[2]).astype(np.uint16)).save(path)
    return path


def test_a_linear_inr_super_resolves_a_ramp_exactly(tmp_path):
    """Known answer through the task's code path: a 64x64 ramp, fitted at 8x8 by an INR exactly
    linear in its coordinates, is the ramp itself at every target pixel centre: pixel j of an
    m-pixel raster sits at source position (j + 1/2) 64/m - 1/2. At x8 (m = 64) the target is
    the source's own pixels, so the INR's MSE is 0; the bicubic row is bicubic(base) against
    those pixels."""
    source, n = 64, 8
    dm = ImageDataModule(name="ramp", path=str(ramp_png(tmp_path, source)), size=n)
    dm.setup()
    # The base's border pixels are antialiased against the crop's edge; its interior is the ramp.
    interior = torch.from_numpy(np.pad(np.ones((n - 2, n - 2), bool), 1).ravel())
    inr = LinearINR.fit(dm.coords[interior], dm.values[interior])
    record = SuperResolution(factors=[8, 4, 2], save_images=False).run(inr, dm, tmp_path, "reference")
    for queries, factor in zip(inr.queries, (8, 4, 2), strict=True):
        m = n * factor
        centres = (np.arange(m) + 0.5) * source / m - 0.5
        pred = queries @ inr.weights + inr.bias
        np.testing.assert_allclose(pred.reshape(m, m), ramp(centres[:, None], centres[None, :]), atol=2e-6)
    x8 = record["factors"]["8"]
    assert x8["inr"]["mse"] < 1e-11 and x8["inr"]["psnr"] > 100
    truth = ramp(*np.indices((source, source)))
    bicubic = bicubic_upsample(dm.signal_array(dm.values), (source, source))[..., 0]
    assert x8["bicubic_from_base"]["mse"] == pytest.approx(np.mean((bicubic - truth) ** 2), rel=1e-5)
    assert x8["bicubic_from_base"]["mse"] > 1e3 * x8["inr"]["mse"]
    assert_psnr(x8["bicubic_from_base"]["psnr"], x8["bicubic_from_base"]["mse"])
    assert x8["inr"]["ssim"] == pytest.approx(1.0, abs=1e-6) and x8["inr"]["rho_ag"] == pytest.approx(1.0)


def test_linspace_queries_miss_the_ramp_by_the_known_shift(tmp_path):
    """query_grid=linspace (the SPDER reference's) puts the m queries at linspace(-1, 1, m): from
    the first base pixel's centre (source position 3.5) to the last's (59.5), not at the target's
    pixel centres 0 .. 63. On the ramp the INR's MSE is the ramp's difference between them."""
    dm = ImageDataModule(name="ramp", path=str(ramp_png(tmp_path, 64)), size=8)
    dm.setup()
    interior = torch.from_numpy(np.pad(np.ones((6, 6), bool), 1).ravel())
    inr = LinearINR.fit(dm.coords[interior], dm.values[interior])
    task = SuperResolution(factors=[8], query_grid="linspace", save_images=False)
    record = task.run(inr, dm, tmp_path, "reference")
    queried = 3.5 + 56.0 * np.arange(64) / 63
    expected = np.mean((ramp(queried[:, None], queried[None, :]) - ramp(*np.indices((64, 64)))) ** 2)
    assert record["factors"]["8"]["inr"]["mse"] == pytest.approx(expected, rel=1e-4)
    assert expected > 1e-5


def test_ground_truth_source_or_flagged_interpolation():
    source = np.random.default_rng(1).random((16, 16, 1)).astype(np.float32)
    same, how, flag = ground_truth_at(source, (16, 16))
    assert np.array_equal(same, source * 2 - 1) and not flag
    _, how, flag = ground_truth_at(source, (8, 8))
    assert not flag and "downsample" in how
    _, how, flag = ground_truth_at(source, (32, 32))
    assert flag and how.startswith("INTERPOLATED")


def _keys(x, a=-0.75):
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a if x < 2 else 0.0


def test_bicubic_against_hand_computed_value():
    row = np.array([1.0, 2.0, 4.0, 8.0], dtype=np.float32)
    image = np.tile(row, (4, 1))[..., None]  # constant down the columns
    out = bicubic_upsample(image, (8, 8))[..., 0]
    # output column 3 sits at input x = (3 + 0.5) / 2 - 0.5 = 1.25: weights W(1.25), W(0.25), W(0.75), W(1.75)
    weights = [_keys(1.25), _keys(0.25), _keys(0.75), _keys(1.75)]
    assert weights == [-0.10546875, 0.87890625, 0.26171875, -0.03515625]
    assert np.allclose(out[:, 3], 2.41796875, atol=1e-6)
    assert np.allclose(out[:, 3], float(np.dot(weights, row)), atol=1e-6)
    # output column 0 sits at x = -0.25: borders replicate, so pixels -2, -1, 0, 1 are 1, 1, 1, 2
    assert np.allclose(out[:, 0], _keys(1.75) + _keys(0.75) + _keys(0.25) + 2 * _keys(1.25), atol=1e-6)


# ------------------------------------------------------------------ audio interpolation


def test_linear_and_bandlimited_against_hand_computed_values():
    assert np.allclose(
        linear_interpolate(np.array([0, 4, 8]), np.array([0.0, 4.0, -4.0]), np.array([2, 6, 9])), [2, 0, -4]
    )
    n = np.arange(4)
    up = fft_upsample(np.cos(2 * np.pi * n / 4), 2)  # a cosine below Nyquist comes back exactly
    h = np.sqrt(0.5)
    assert np.allclose(up, [1, h, 0, -h, -1, -h, 0, h], atol=1e-12)
    assert np.allclose(
        fft_upsample(np.array([1.0, -1.0, 1.0, -1.0]), 2), np.cos(np.pi * np.arange(8) / 2), atol=1e-12
    )
    x = np.array(
        [0.3, -0.2, 0.5]
    )  # odd length, two cosines: sinc interpolation of a trigonometric polynomial
    t = np.arange(6) / 2
    spectrum = np.fft.rfft(x)
    expected = (spectrum[0].real + 2 * np.real(spectrum[1] * np.exp(2j * np.pi * t / 3))) / 3
    assert np.allclose(fft_upsample(x, 2), expected, atol=1e-12)
    assert np.allclose(
        bandlimited_interpolate(x, 2, np.array([0, 2, 4])), x, atol=1e-12
    )  # keeps the known samples


def test_a_linear_inr_interpolates_a_linear_clip_exactly(tmp_path):
    """Known answer through the task's code path: a clip that is a straight line in time (165
    samples from -1 to 1, so peak normalisation keeps it), trained on every 8th sample. An INR
    linear in time, fitted to those samples, is exact at every factor. Linear interpolation is
    exact too, except after the last training sample (160), where it holds its value; the
    band-limited baseline is scipy.signal.resample of the training samples, read at the queries."""
    from scipy import signal as scipy_signal

    total = 165
    clip = -1.0 + 2.0 * np.arange(total) / (total - 1)
    path = tmp_path / "line.wav"
    import soundfile

    soundfile.write(str(path), clip.astype(np.float32), 8000, subtype="FLOAT")
    dm = AudioDataModule(name="line", path=str(path), coord_scale=100.0)
    dm.setup()
    task = AudioInterpolation(keep_every=8, factors=[2, 4, 8], save_outputs=False)
    task.prepare(dm)
    inr = LinearINR.fit(dm.coords, dm.values)
    assert inr.weights[0] == pytest.approx(1 / 100.0, rel=1e-6)  # t in [-100, 100] -> [-1, 1]
    record = task.run(inr, dm, tmp_path, "reference")
    train = clip[::8]
    upsampled = scipy_signal.resample(train, train.shape[0] * 8)
    for factor, queries in zip((2, 4, 8), inr.queries, strict=True):
        index = np.arange(0, total, 8 // factor)
        np.testing.assert_allclose(queries[:, 0], (-1 + 2 * index / (total - 1)) * 100.0, atol=1e-4)
        entry = record["factors"][str(factor)]
        assert entry["samples"] == index.shape[0] and entry["held_out_samples"] == int((index % 8 != 0).sum())
        assert entry["inr"]["mse"] < 1e-12 and entry["inr"]["held_out_mse"] < 1e-12
        held = clip[np.minimum(index, 160)]
        assert entry["linear_interp"]["mse"] == pytest.approx(np.mean((held - clip[index]) ** 2), rel=1e-5)
        held_out = index % 8 != 0
        assert entry["linear_interp"]["held_out_mse"] == pytest.approx(
            np.mean((held - clip[index])[held_out] ** 2), rel=1e-5
        )
        expected = np.mean((upsampled[index] - clip[index]) ** 2)
        assert entry["bandlimited_fft"]["mse"] == pytest.approx(expected, rel=1e-5)
        assert_psnr(entry["bandlimited_fft"]["psnr"], entry["bandlimited_fft"]["mse"])
    assert record["factors"]["8"]["linear_interp"]["mse"] > 0  # the held end is scored


@pytest.fixture
def tiny_clip(shared_data):
    dm = AudioDataModule(name="bach", path=str(shared_data / "audio" / "bach.wav"), offset=1.0, seconds=0.005)
    dm.setup()
    return dm


def test_audio_training_and_query_bookkeeping(tiny_clip):
    dm = tiny_clip
    total, rate = dm.num_points, dm.sample_rate
    task = AudioInterpolation(keep_every=8, factors=[2, 4, 8], save_outputs=False)
    task.prepare(dm)
    train_index = np.arange(0, total, 8)
    assert dm.signal_shape == (len(train_index),) and dm.full_signal_shape == (total,)
    assert torch.equal(dm.coords, dm.full_coords[train_index]) and torch.equal(
        dm.values, dm.full_values[train_index]
    )
    assert dm.sample_rate == rate / 8 and task.sample_rate == rate
    trained = {float(c) for c in dm.coords[:, 0]}
    for factor, stride in ((2, 4), (4, 2), (8, 1)):
        index = task.query_index(total, factor)
        assert np.array_equal(index, np.arange(0, total, stride))
        assert set(train_index) <= set(index)
        held = index[index % 8 != 0]
        assert not trained & {float(c) for c in dm.full_coords[held, 0]}  # never trained on
    # queries land on the true samples: an INR that knows only exact sample positions is perfect
    oracle = LookupModule(dm.full_coords, dm.full_values)
    record = task.run(oracle, dm, None, "reference")
    for factor in ("2", "4", "8"):
        assert record["factors"][factor]["inr"]["mse"] == 0.0
        assert record["factors"][factor]["inr"]["held_out_mse"] == 0.0
    assert record["factors"]["8"]["held_out_samples"] == total - len(train_index)


# ------------------------------------------------------------------ frame interpolation


def test_average_of_neighbours_and_held_out_frames():
    frames = np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1) ** 2  # 0, 1, 4, 9, 16
    assert np.allclose(average_of_neighbours(frames, np.array([1, 3]))[:, 0, 0, 0], [2.0, 10.0])
    assert held_out_frames(5).tolist() == [1, 3]
    assert held_out_frames(6).tolist() == [1, 3]  # frame 5 has no right neighbour: not scored


class ClipModule(CoordinateDataModule):
    """A video DataModule for a given (T, H, W, 1) array."""

    kind = "video"

    def __init__(self, clip: np.ndarray) -> None:
        super().__init__(name="clip")
        self.clip = clip

    def load_signal(self) -> np.ndarray:
        return self.clip

    def save_outputs(self, pred_values, out_dir, metrics=None):
        return []


def test_frame_interpolation_known_answers_for_a_clip_quadratic_in_time(tmp_path):
    """Known answers through the task's code path. The clip is linear in (t, y, x) plus
    eps t^2 (t the frame number, 7 frames): the training frames are 0, 2, 4, 6; the held-out ones
    1, 3, 5. A linear INR fitted to the training frames gets the linear part exactly and t^2 as
    its least-squares line 6 t - 4, so it is off by eps (1, 5, 1) on the held-out frames: MSE
    9 eps^2, per frame eps^2, 25 eps^2, eps^2. The average of the neighbours is off by eps
    everywhere ((t - 1)^2 + (t + 1)^2) / 2 = t^2 + 1): MSE eps^2."""
    eps = 0.01
    t, y, x = np.meshgrid(np.arange(7), np.arange(6), np.arange(6), indexing="ij")
    clip = (0.05 * t + 0.02 * y - 0.03 * x - 0.5 + eps * t**2)[..., None]
    dm = ClipModule(clip)
    dm.setup()
    task = FrameInterpolation(save_outputs=False)
    task.prepare(dm)
    inr = LinearINR.fit(dm.coords, dm.values)
    record = task.run(inr, dm, tmp_path, "reference")
    assert record["held_out_frames"] == [1, 3, 5] and record["training_frames"] == [0, 2, 4, 6]
    queried_times = np.unique(inr.queries[0][:, 0])
    np.testing.assert_allclose(queried_times, -1 + 2 * np.array([1, 3, 5]) / 6, atol=1e-6)
    inr_row, average = record["held_out"]["inr"], record["held_out"]["average_of_neighbours"]
    assert inr_row["mse"] == pytest.approx(9 * eps**2, rel=1e-4)
    np.testing.assert_allclose(
        inr_row["per_frame_psnr"], [10 * np.log10(4 / (k * eps**2)) for k in (1, 25, 1)], rtol=1e-4
    )
    assert average["mse"] == pytest.approx(eps**2, rel=1e-4)
    np.testing.assert_allclose(average["per_frame_psnr"], [10 * np.log10(4 / eps**2)] * 3, rtol=1e-4)
    assert_psnr(average["psnr"], average["mse"])


@pytest.mark.parametrize("num_frames", [5, 6])
def test_frame_bookkeeping(shared_data, num_frames):
    dm = VideoDataModule(
        name="bikes",
        path=str(shared_data / "video" / "bikes.mp4"),
        num_frames=num_frames,
        crop="square",
        size=8,
    )
    dm.setup()
    task = FrameInterpolation(save_outputs=False)
    task.prepare(dm)
    kept = list(range(0, num_frames, 2))
    assert dm.signal_shape == (len(kept), 8, 8) and dm.full_signal_shape == (num_frames, 8, 8)
    full = dm.full_coords.reshape(num_frames, 64, 3)
    assert torch.equal(dm.coords, full[kept].reshape(-1, 3))
    trained_times = set(dm.coords[:, 0].tolist())
    assert trained_times == {float(full[t, 0, 0]) for t in kept}
    oracle = LookupModule(dm.full_coords, dm.full_values)
    record = task.run(oracle, dm, None, "reference")
    assert record["held_out_frames"] == [1, 3] and record["training_frames"] == kept
    held_times = {float(full[t, 0, 0]) for t in record["held_out_frames"]}
    assert not held_times & trained_times
    assert record["held_out"]["inr"]["mse"] == 0.0  # queried at the true frames' coordinates


# ------------------------------------------------------------------ gradients


def test_finite_differences_and_sobel_against_hand_computed_values():
    image = np.array([[0.0, 1.0, 4.0], [0.0, 2.0, 8.0], [0.0, 3.0, 12.0]])[..., None]
    h = grid_spacing((3, 3))
    assert h == [1.0, 1.0]
    fd = finite_difference_gradient(image, h)[..., 0, :]
    assert fd.shape == (3, 3, 2)
    assert np.allclose(fd[1, 1], [(3.0 - 1.0) / 2, (8.0 - 0.0) / 2])  # central: (v[i+1] - v[i-1]) / 2h
    assert np.allclose(fd[0, 0], [0.0 - 0.0, 1.0 - 0.0])  # one-sided at the border
    sobel = sobel_gradient(image, h)[..., 0, :]
    # centre, along columns: ([1, 2, 1] . ([4, 8, 12] - [0, 0, 0])) / (2 h * 4)
    assert np.isclose(sobel[1, 1, 1], (4 + 16 + 12) / 8)
    assert np.isclose(sobel[1, 1, 0], ((0 + 2 * 3 + 12) - (0 + 2 * 1 + 4)) / 8)
    assert compare_gradients(fd, fd)["relative_l2"] == 0.0


def test_autograd_gradient_of_a_known_function():
    class Wave(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return torch.stack([torch.sin(3 * x[:, 0]) * x[:, 1], x[:, 0] + 2 * x[:, 1]], dim=1) + self.dummy

    coords = coordinate_grid((5, 7))
    grad = autograd_gradient(Wave(), coords, chunk_size=8)
    x, y = coords[:, 0], coords[:, 1]
    assert grad.shape == (35, 2, 2)
    assert torch.allclose(grad[:, 0, 0], 3 * torch.cos(3 * x) * y, atol=1e-6)
    assert torch.allclose(grad[:, 0, 1], torch.sin(3 * x), atol=1e-6)
    assert torch.allclose(grad[:, 1], torch.tensor([1.0, 2.0]).expand(35, 2))


def test_a_linear_inr_on_a_ramp_has_the_ramps_gradient(tmp_path):
    """Known answers through the task's code path, on a 16x16 ramp at coord_scale 2: one pixel
    step is 2 * 2 / 15 coordinate units, so the ramp's gradient is (2 * 500 / 65535, 2 * 400 /
    65535) * 15 / 4 per unit. A linear INR fitted to it has that gradient as its coefficients,
    and autograd returns them at every point: cosine 1, relative L2 0 against the finite
    differences (exact for a linear function, borders included). Sobel is exact inside but
    halves the gradient on the border rows (axis 0) and columns (axis 1): relative L2
    sqrt(2 n / 4 / n^2) = sqrt(1 / 32)."""
    n, scale = 16, 2.0
    dm = ImageDataModule(name="ramp", path=str(ramp_png(tmp_path, n)), size=n, coord_scale=scale)
    dm.setup()
    inr = LinearINR.fit(dm.coords, dm.values)
    gradient = np.array([2 * RAMP[0], 2 * RAMP[1]]) / 65535 * (n - 1) / (2 * scale)
    np.testing.assert_allclose(inr.weights, gradient, rtol=1e-6)
    np.testing.assert_allclose(
        autograd_gradient(inr.net, dm.coords, 7)[:, 0].numpy(), np.tile(gradient, (n * n, 1)), rtol=1e-6
    )
    record = Gradients(save_images=False).run(inr, dm, tmp_path)
    assert record["grid_spacing"] == [2 * scale / (n - 1)] * 2 and record["signal_shape"] == [n, n]
    assert record["reference_mean_magnitude"] == pytest.approx(np.hypot(*gradient), rel=1e-5)
    for row in ("inr_autograd", "inr_finite_difference"):
        assert record[row]["cosine"] == pytest.approx(1.0, abs=1e-9)
        assert record[row]["relative_l2"] < 1e-5 and record[row]["magnitude_psnr"] > 90
    assert record["sobel_of_ground_truth"]["relative_l2"] == pytest.approx(np.sqrt(1 / (2 * n)), rel=1e-5)


# ------------------------------------------------------------------ end to end (tiny)


def fitted(run_dir):
    """The network a run ended with, from its last checkpoint (the task ran on these parameters)."""
    from inr_bench.fitting.module import INRFitModule

    return INRFitModule.load_from_checkpoint(run_dir / "checkpoints" / "last.ckpt", map_location="cpu").eval()


def quantized(values: np.ndarray) -> np.ndarray:
    """[-1, 1] -> the 8-bit pixels a PNG of them holds (rounded, clipped)."""
    return np.clip(np.floor((values + 1.0) * 127.5 + 0.5), 0, 255).astype(np.uint8)


def mse(a, b) -> float:
    return float(np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2))


def test_superres_and_gradients_runs_write_task_results(make_config, shared_data, tmp_path):
    """Each row of the records is recomputed here from the fitted network (its checkpoint) and
    the data: the INR at the target's pixel centres against the source's antialiased downsample
    (PIL's bilinear), bicubic from the 16x16 base; the PNGs hold those pixels."""
    result = train(
        make_config("data=div2k", "data.size=16", "task=superres", "trainer.max_steps=3", "eval_steps=[3]")
    )
    task, run = result["task"], tmp_path / "run"
    assert (
        task["name"] == "superres"
        and task["source_size"] == [512, 512]
        and set(task["factors"]) == {"2", "4", "8"}
    )
    assert json.loads((run / "metrics.json").read_text())["task"] == json.loads(json.dumps(task))
    module = fitted(run)
    source = (
        np.asarray(Image.open(shared_data / "div2k" / "div2k_crop_00.png"))[..., 0].astype(np.float32) / 255
    )
    base = (np.asarray(Image.fromarray(source).resize((16, 16), Image.BILINEAR)) * 2 - 1)[..., None]
    for factor in (2, 4, 8):
        m = 16 * factor
        entry = task["factors"][str(factor)]
        target = np.asarray(Image.fromarray(source).resize((m, m), Image.BILINEAR)) * 2 - 1
        centres = torch.from_numpy(-1 + 2 * ((np.arange(m) + 0.5) / factor - 0.5) / 15).float()
        coords = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), dim=-1).reshape(-1, 2)
        with torch.no_grad():
            pred = module.net(coords).numpy().reshape(m, m)
        assert entry["size"] == [m, m] and not entry["target_interpolated"]
        assert entry["inr"]["mse"] == pytest.approx(mse(pred, target), rel=1e-3)
        bicubic = torch.nn.functional.interpolate(
            torch.from_numpy(base).permute(2, 0, 1)[None].float(),
            size=(m, m),
            mode="bicubic",
            align_corners=False,
        )[0, 0].numpy()
        assert entry["bicubic_from_base"]["mse"] == pytest.approx(mse(bicubic, target), rel=1e-3)
        assert_psnr(entry["inr"]["psnr"], entry["inr"]["mse"])
        png = np.asarray(Image.open(run / f"superres_x{factor}_inr.png"))
        assert np.abs(png.astype(int) - quantized(pred)).max() <= 1  # float32 rounding at a .5 boundary
        assert (
            np.abs(
                np.asarray(Image.open(run / f"superres_x{factor}_target.png")).astype(int) - quantized(target)
            ).max()
            <= 1
        )
    assert Image.open(run / "superres.png").size == (1200, 960)  # 3 factors x 4 panels

    result = train(make_config("data.size=16", "task=gradients", "trainer.max_steps=2", subdir="grad"))
    task, run = result["task"], tmp_path / "grad"
    dm = ImageDataModule(name="camera", picture="camera", size=16)
    dm.setup()
    net = fitted(run).net
    truth = dm.values.numpy().reshape(16, 16)
    reference = np.stack(np.gradient(truth.astype(np.float64), 2 / 15, 2 / 15), axis=-1)
    x = dm.coords.clone().requires_grad_(True)
    (autograd,) = torch.autograd.grad(net(x).sum(), x)
    g, r = autograd.numpy().astype(np.float64).ravel(), reference.reshape(-1, 2).ravel()
    assert task["inr_autograd"]["cosine"] == pytest.approx(
        g @ r / np.linalg.norm(g) / np.linalg.norm(r), rel=1e-4
    )
    assert task["inr_autograd"]["relative_l2"] == pytest.approx(
        np.linalg.norm(g - r) / np.linalg.norm(r), rel=1e-4
    )
    assert task["reference_mean_magnitude"] == pytest.approx(
        np.linalg.norm(reference, axis=-1).mean(), rel=1e-5
    )
    assert Image.open(run / "gradients.png").size == (1200, 800)


def test_audio_interp_run_trains_on_every_8th_sample(make_config, shared_data, tmp_path):
    """The fit saw every 8th of 441 samples; each factor's rows are recomputed here from the fitted
    network and the clip (np.interp for the linear baseline); the WAVs hold the predictions."""
    import soundfile

    result = train(
        make_config(
            "data=bach",
            "data.offset=1.0",
            "data.seconds=0.01",
            "task=audio_interp",
            "delta=arctan",
            "trainer.max_steps=2",
            "eval_steps=[2]",
        )
    )
    total, run = 441, tmp_path / "run"
    assert result["info"]["signal_shape"] == [56] and "training points only" in result["info"]["evals_scope"]
    rate = soundfile.info(str(shared_data / "audio" / "bach.wav")).samplerate
    truth = AudioDataModule(
        name="bach", path=str(shared_data / "audio" / "bach.wav"), offset=1.0, seconds=0.01
    )
    truth.setup()
    clip = truth.values.numpy()[:, 0].astype(np.float64)
    net = fitted(run).net
    np.testing.assert_allclose(truth.coords.numpy()[:, 0], np.linspace(-100, 100, total), atol=1e-5)
    with torch.no_grad():
        inr = net(truth.coords).numpy()[:, 0]
    for factor, count in (("2", 111), ("4", 221), ("8", 441)):
        index = np.arange(0, total, 8 // int(factor))
        entry = result["task"]["factors"][factor]
        assert entry["samples"] == count and entry["held_out_samples"] == int((index % 8 != 0).sum())
        assert entry["inr"]["mse"] == pytest.approx(mse(inr[index], clip[index]), rel=1e-3)
        linear = np.interp(index, np.arange(0, total, 8), clip[::8])
        assert entry["linear_interp"]["mse"] == pytest.approx(mse(linear, clip[index]), rel=1e-6)
        held = index % 8 != 0
        assert entry["inr"]["held_out_mse"] == pytest.approx(
            mse(inr[index][held], clip[index][held]), rel=1e-3
        )
    written, written_rate = soundfile.read(run / "audio_interp_inr.wav")
    assert written_rate == rate and np.abs(written - inr).max() < 1e-5
    reconstruction, slow_rate = soundfile.read(run / "reconstruction.wav")
    assert slow_rate == rate // 8 and np.abs(reconstruction - inr[::8]).max() < 1e-5
    assert np.abs(soundfile.read(run / "audio_interp_ground_truth.wav")[0] - clip).max() < 1e-6
    assert Image.open(run / "audio_interp.png").size == (1200, 400)


def test_frame_interp_run_scores_held_out_frames(make_config, shared_data, tmp_path):
    """Frames 0, 2, 4 of 5 trained; 1 and 3 scored: the rows are recomputed here from the fitted
    network and the frames; the 2x video has 2T - 1 frames of the network at the midpoints."""
    import av

    overrides = ["data=bikes", "data.num_frames=5", "data.size=8", "task=frame_interp"]
    result = train(make_config(*overrides, "trainer.max_steps=2", "eval_steps=[2]"))
    run = tmp_path / "run"
    assert result["info"]["signal_shape"] == [3, 8, 8] and result["task"]["held_out_frames"] == [1, 3]
    dm = VideoDataModule(
        name="bikes", path=str(shared_data / "video" / "bikes.mp4"), num_frames=5, crop="square", size=8
    )
    dm.setup()
    frames = dm.values.numpy().reshape(5, 8, 8).astype(np.float64)
    net = fitted(run).net
    with torch.no_grad():
        pred = net(dm.coords).numpy().reshape(5, 8, 8)
    held = result["task"]["held_out"]
    assert held["inr"]["mse"] == pytest.approx(mse(pred[[1, 3]], frames[[1, 3]]), rel=1e-3)
    average = (frames[[0, 2]] + frames[[2, 4]]) / 2
    assert held["average_of_neighbours"]["mse"] == pytest.approx(mse(average, frames[[1, 3]]), rel=1e-5)
    expected_psnr = [10 * np.log10(4 / mse(average[i], frames[t])) for i, t in enumerate((1, 3))]
    np.testing.assert_allclose(held["average_of_neighbours"]["per_frame_psnr"], expected_psnr, rtol=1e-5)
    inr_psnr = [10 * np.log10(4 / mse(pred[t], frames[t])) for t in (1, 3)]
    np.testing.assert_allclose(held["inr"]["per_frame_psnr"], inr_psnr, rtol=1e-3)
    with av.open(str(run / "frame_interp_2x.mp4")) as container:
        decoded = [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    assert len(decoded) == 9 and decoded[0].shape == (8, 8)
    assert Image.open(run / "frame_interp.png").size == (1200, 800)


# ------------------------------------------------------------------ the tasks' helpers: edge cases


def test_fft_upsample_edge_cases():
    """The shortest clips and odd output lengths: one sample is a constant; two samples are a DC
    and a Nyquist cosine (split in halves: a cosine at the new rate); an odd M * factor keeps its
    length; float32 samples are upsampled in float64."""
    np.testing.assert_allclose(fft_upsample(np.array([0.7]), 3), [0.7] * 3, atol=1e-15)
    np.testing.assert_allclose(fft_upsample(np.array([1.0, -1.0]), 2), [1.0, 0.0, -1.0, 0.0], atol=1e-15)
    x = np.array([0.3, -0.2, 0.5])
    up = fft_upsample(x, 3)
    assert up.shape == (9,)
    spectrum = np.fft.rfft(x)
    t = np.arange(9) / 3
    np.testing.assert_allclose(
        up, (spectrum[0].real + 2 * np.real(spectrum[1] * np.exp(2j * np.pi * t / 3))) / 3, atol=1e-15
    )
    samples = np.random.default_rng(0).uniform(-1, 1, 16).astype(np.float32)
    got = fft_upsample(samples, 4)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, fft_upsample(samples.astype(np.float64), 4), rtol=0, atol=1e-15)


class NoKind:
    """An object that is no DataModule of any kind."""


def test_interpolation_tasks_check_their_data(tmp_path):
    with pytest.raises(InrBenchError, match=r"^task=audio_interp needs an audio dataset \(data=bach"):
        AudioInterpolation().prepare(NoKind())
    with pytest.raises(InrBenchError, match=r"^task=frame_interp needs a video dataset \(data=bikes"):
        FrameInterpolation().prepare(NoKind())
    two = ClipModule(np.zeros((2, 8, 8, 1), dtype=np.float32))
    two.setup()
    with pytest.raises(
        InrBenchError, match="needs at least 3 frames .* the clip has 2. Raise data.num_frames"
    ):
        FrameInterpolation().prepare(two)
    three = ClipModule(np.zeros((3, 8, 8, 1), dtype=np.float32))
    three.setup()
    task = FrameInterpolation()
    task.prepare(three)  # no fps attribute: nothing to halve
    assert task.fps is None and three.signal_shape == (2, 8, 8)
    three = ClipModule(np.zeros((3, 2, 2, 1), dtype=np.float32))
    three.setup()
    three.fps = 25.0
    task.prepare(three)
    assert task.fps == 25.0 and three.fps == 12.5  # the training frames' own rate
    clip = ClipModule(np.zeros((17, 1), dtype=np.float32))
    clip.kind = "audio"
    clip.setup()
    audio = AudioInterpolation(keep_every=4, factors=[2])
    audio.prepare(clip)  # no sample rate known: none to divide
    assert audio.sample_rate is None and clip.signal_shape == (5,)


def test_query_grids_and_their_scale():
    """pixel_centre_axis needs 2 samples to define the frame; query_coords follows query_grid and
    the coordinate scale; mismatched shapes are refused."""
    np.testing.assert_allclose(pixel_centre_axis(2, 4).numpy(), [-1.5, -0.5, 0.5, 1.5])
    np.testing.assert_allclose(pixel_centre_axis(2, 4, scale=2.0).numpy(), [-3.0, -1.0, 1.0, 3.0])
    with pytest.raises(
        ValueError, match="an axis needs at least 2 samples to define the coordinate frame, got 1"
    ):
        pixel_centre_axis(1, 4)
    with pytest.raises(ValueError):
        pixel_centre_grid((4, 4), (8,))
    np.testing.assert_allclose(linspace_grid((3,)).numpy(), [[-1.0], [0.0], [1.0]])
    for n in (7, 33, 100):  # computed in float64 and rounded once (float32 linspace is off by an ulp)
        expected = ((-1.0 + 2.0 * np.arange(n) / (n - 1)) * 2.5).astype(np.float32)
        np.testing.assert_allclose(linspace_grid((n,), 2.5).numpy()[:, 0], expected, rtol=1e-12, atol=1e-12)
    grid = linspace_grid((2, 3), scale=2.0).numpy()
    np.testing.assert_allclose(grid, [[-2, -2], [-2, 0], [-2, 2], [2, -2], [2, 0], [2, 2]])
    centres = SuperResolution(query_grid="pixel_centres")
    torch.testing.assert_close(centres.query_coords((4, 4), (8, 8)), pixel_centre_grid((4, 4), (8, 8)))
    torch.testing.assert_close(
        centres.query_coords((4, 4), (8, 8), 3.0), 3.0 * pixel_centre_grid((4, 4), (8, 8))
    )
    spaced = SuperResolution(query_grid="linspace")
    torch.testing.assert_close(spaced.query_coords((4, 4), (8, 8)), linspace_grid((8, 8)))
    torch.testing.assert_close(spaced.query_coords((4, 4), (8, 8), 3.0), linspace_grid((8, 8), 3.0))


def test_ground_truth_at_equal_side_but_larger_size_is_interpolated():
    source = np.random.default_rng(2).random((16, 16, 1))
    target, how, flag = ground_truth_at(source, (16, 32))
    assert (
        flag and how.startswith("INTERPOLATED") and target.dtype == np.float32 and target.shape == (16, 32, 1)
    )
    wide = np.random.default_rng(3).random((8, 12, 1)).astype(np.float32)
    own, how, flag = ground_truth_at(wide, (8, 12))
    assert not flag and np.array_equal(own, wide * 2 - 1) and how == "the original 8x8 crop's own pixels"
    assert bicubic_upsample(source, (32, 32)).dtype == np.float32


def test_score_names_the_mse_and_passes_the_rho_variant():
    rng = np.random.default_rng(5)
    target = torch.from_numpy(rng.uniform(-1, 1, (64, 1)))
    pred = target + 0.1 * torch.from_numpy(rng.normal(size=(64, 1)))
    for variant in ("reference", "centered"):
        scored = score(pred, target, (8, 8), 2.0, variant)
        assert set(scored) == {"mse", "psnr", "psnr_paper", "ssim", "rho_ag"}
        assert scored["mse"] == pytest.approx(float(torch.mean((pred - target) ** 2)))
        expected = rho_ag(pred.reshape(8, 8, 1), target.reshape(8, 8, 1), 2, variant)
        assert scored["rho_ag"] == pytest.approx(float(expected), rel=1e-12)


def test_gradient_helpers_edge_cases():
    """1-D signals (audio) give (N, C, 1); autograd without chunks; compare_gradients is None where
    a norm is zero, and measures small fields as any other."""
    t = np.linspace(0, 1, 11)
    signal = np.stack([3 * t, t**2], axis=-1)
    fd = finite_difference_gradient(signal, [0.1])
    assert fd.shape == (11, 2, 1)
    np.testing.assert_allclose(fd[:, 0, 0], 3.0)
    np.testing.assert_allclose(fd[1:-1, 1, 0], 2 * t[1:-1], atol=1e-12)
    net = torch.nn.Linear(2, 1)
    grad = autograd_gradient(net, torch.rand(6, 2))
    torch.testing.assert_close(grad[:, 0], net.weight.detach().expand(6, 2))
    field = np.full((4, 4, 1, 2), 1e-3)
    small = compare_gradients(field, 2 * field)
    assert small["cosine"] == pytest.approx(1.0) and small["relative_l2"] == pytest.approx(0.5)
    assert small["magnitude_psnr"] == pytest.approx(10 * np.log10(4 / 1.0), rel=1e-9)  # |g| = half of |ref|
    zero = np.zeros_like(field)
    assert compare_gradients(zero, field)["cosine"] is None
    reference_zero = compare_gradients(field, zero)
    assert reference_zero == {"cosine": None, "relative_l2": None, "magnitude_psnr": None}
