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
from inr_bench.data.base import coordinate_grid
from inr_bench.data.image import ImageDataModule
from inr_bench.data.video import VideoDataModule
from inr_bench.tasks.audio_interp import (
    AudioInterpolation,
    bandlimited_interpolate,
    fft_upsample,
    linear_interpolate,
)
from inr_bench.tasks.base import pixel_centre_axis, pixel_centre_grid, pixel_centre_positions
from inr_bench.tasks.frame_interp import FrameInterpolation, average_of_neighbours, held_out_frames
from inr_bench.tasks.gradients import (
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


# ------------------------------------------------------------------ end to end (tiny)


def test_superres_and_gradients_runs_write_task_results(make_config, shared_data, tmp_path):
    result = train(
        make_config("data=div2k", "data.size=16", "task=superres", "trainer.max_steps=3", "eval_steps=[3]")
    )
    task = result["task"]
    assert task["name"] == "superres" and task["source_size"] == [512, 512]
    assert set(task["factors"]) == {"2", "4", "8"}
    for entry in task["factors"].values():
        assert set(entry["inr"]) >= {"mse", "psnr", "ssim", "rho_ag"} and "bicubic_from_base" in entry
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["task"]["factors"]["8"]["size"] == [128, 128]
    assert (tmp_path / "run" / "superres.png").is_file() and (
        tmp_path / "run" / "superres_x8_inr.png"
    ).is_file()

    result = train(make_config("data.size=16", "task=gradients", "trainer.max_steps=2", subdir="grad"))
    task = result["task"]
    assert set(task) >= {"inr_autograd", "inr_finite_difference", "sobel_of_ground_truth"}
    assert -1 <= task["inr_autograd"]["cosine"] <= 1
    assert (tmp_path / "grad" / "gradients.png").is_file()


def test_audio_interp_run_trains_on_every_8th_sample(make_config, shared_data, tmp_path):
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
    total = 441
    assert result["info"]["signal_shape"] == [56] and "training points only" in result["info"]["evals_scope"]
    factors = result["task"]["factors"]
    assert factors["8"]["samples"] == total and factors["2"]["samples"] == 111
    assert set(factors["4"]) >= {"inr", "linear_interp", "bandlimited_fft"}
    for name in ("audio_interp.png", "audio_interp_inr.wav", "reconstruction.wav"):
        assert (tmp_path / "run" / name).is_file(), name


def test_frame_interp_run_scores_held_out_frames(make_config, shared_data, tmp_path):
    result = train(
        make_config(
            "data=bikes",
            "data.num_frames=5",
            "data.size=8",
            "task=frame_interp",
            "trainer.max_steps=2",
            "eval_steps=[2]",
        )
    )
    assert result["info"]["signal_shape"] == [3, 8, 8]
    held = result["task"]["held_out"]
    assert result["task"]["held_out_frames"] == [1, 3]
    for key in ("inr", "average_of_neighbours"):
        assert set(held[key]) >= {"psnr", "ssim", "per_frame_psnr"} and len(held[key]["per_frame_psnr"]) == 2
    assert (tmp_path / "run" / "frame_interp.png").is_file() and (
        tmp_path / "run" / "frame_interp_2x.mp4"
    ).is_file()
