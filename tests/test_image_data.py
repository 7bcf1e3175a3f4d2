"""Image preprocessing (the reference code's) against independent references, and errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from inr_bench.data.base import coordinate_grid
from inr_bench.data.image import (
    ImageDataModule,
    preprocess_image,
    select_channels,
    square_crop,
    to_unit_float,
)
from inr_bench.errors import InrBenchError


def test_coordinate_grid_is_ij_row_major_linspace():
    grid = coordinate_grid((3, 4)).numpy()
    ys, xs = np.meshgrid(np.linspace(-1, 1, 3), np.linspace(-1, 1, 4), indexing="ij")
    np.testing.assert_allclose(grid, np.stack([ys.ravel(), xs.ravel()], axis=1), atol=1e-7)
    assert coordinate_grid((5,), scale=100.0).numpy().tolist() == [[-100.0], [-50.0], [0.0], [50.0], [100.0]]


def test_preprocess_top_left_crop_channel0_and_range():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    out = preprocess_image(pixels, size=40)  # no resize: 40x40 top-left crop of channel 0
    expected = pixels[:40, :40, :1].astype(np.float32) / 255.0 * 2 - 1
    np.testing.assert_allclose(out, expected, atol=1e-6)
    centre = preprocess_image(pixels, size=40, crop="center")
    np.testing.assert_allclose(centre, pixels[:, 10:50, :1] / 255.0 * 2 - 1, atol=1e-6)
    assert preprocess_image(pixels, 40, channels="rgb").shape == (40, 40, 3)
    lum = preprocess_image(pixels, 40, channels="luminance")[..., 0]
    ref = (pixels[:40, :40] / 255.0) @ np.array([0.2125, 0.7154, 0.0721])
    np.testing.assert_allclose(lum, ref * 2 - 1, atol=1e-5)


def test_resize_is_antialiased_bilinear():
    # Downscaling a 2-pixel checkerboard by 2 with antialiasing averages it to grey, where a
    # plain bilinear sample would alias; torchvision's Resize(antialias=True) does the same.
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = preprocess_image(board, size=32)
    assert np.abs(out).max() < 0.05


def test_camera_datamodule(tmp_path):
    dm = ImageDataModule(name="camera", picture="camera", size=32)
    dm.setup()
    assert dm.signal_shape == (32, 32) and dm.coord_dim == 2 and dm.out_features == 1
    assert dm.coords.shape == (1024, 2) and dm.values.shape == (1024, 1)
    assert -1.0 <= float(dm.values.min()) < float(dm.values.max()) <= 1.0
    written = dm.save_outputs(dm.values, tmp_path)
    assert {p.name for p in written} == {"ground_truth.png", "reconstruction.png", "comparison.png"}
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "ground_truth.png")),
        np.asarray(Image.open(tmp_path / "reconstruction.png")),
    )


def test_folder_dataset_sorted_index(shared_data):
    dm = ImageDataModule(name="div2k", path=str(shared_data / "div2k"), index=3, size=16)
    dm.setup()
    assert dm.source.endswith("div2k_crop_03.png")
    raw = np.asarray(Image.open(shared_data / "div2k" / "div2k_crop_03.png"))
    expected = (
        torch.nn.functional.interpolate(
            torch.from_numpy(raw[..., :1] / 255.0).permute(2, 0, 1)[None].float(),
            size=(16, 16),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )[0, 0].numpy()
        * 2
        - 1
    )
    np.testing.assert_allclose(dm.values.numpy().reshape(16, 16), expected, atol=1e-5)


def test_missing_folder_names_folder_variable_and_download(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "div2k"
    dm = ImageDataModule(name="div2k", path=str(missing), download_hint="get it at https://example/div2k")
    with pytest.raises(InrBenchError) as info:
        dm.setup()
    message = str(info.value)
    assert str(missing) in message and "INR_BENCH_DATA" in message and "https://example/div2k" in message


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InrBenchError, match="holds no files"):
        ImageDataModule(name="x", path=str(tmp_path / "empty")).setup()


def test_unknown_picture_lists_choices():
    with pytest.raises(InrBenchError, match="astronaut"):
        ImageDataModule(name="x", picture="no_such_picture").setup()


# ------------------------------------------------------------------ preprocessing steps, known answers


def test_to_unit_float_scales_integers_by_their_white_level_and_drops_alpha():
    grey = np.array([[0, 51, 255]], dtype=np.uint8)
    out = to_unit_float(grey)
    assert out.dtype == np.float32 and out.shape == (1, 3, 1)
    np.testing.assert_array_equal(out[..., 0], np.array([[0.0, 0.2, 1.0]], dtype=np.float32))
    assert to_unit_float(np.array([[65535, 0]], dtype=np.uint16)).tolist() == [[[1.0], [0.0]]]
    rgba = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    np.testing.assert_array_equal(to_unit_float(rgba), rgba[..., :3].astype(np.float32) / 255)
    grey_alpha = np.arange(5 * 3 * 2, dtype=np.uint8).reshape(5, 3, 2)
    np.testing.assert_array_equal(to_unit_float(grey_alpha), grey_alpha[..., :1].astype(np.float32) / 255)
    rgb_four_wide = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)  # 4 columns are not alpha
    assert to_unit_float(rgb_four_wide).shape == (5, 4, 3)
    with pytest.raises(
        InrBenchError, match=r"Expected a 2-D image \(H, W\) or \(H, W, C\), got an array of shape"
    ):
        to_unit_float(np.zeros((2, 2, 2, 2)))


def test_to_unit_float_passes_booleans_and_clips_floats():
    mask = np.array([[True, False]])
    out = to_unit_float(mask)
    assert out.dtype == np.float32 and out[..., 0].tolist() == [[1.0, 0.0]]
    floats = to_unit_float(np.array([[-0.5, 0.25, 1.5]], dtype=np.float64))
    assert floats.dtype == np.float32 and floats[..., 0].tolist() == [[0.0, 0.25, 1.0]]


def test_square_crop_top_left_and_centred_on_tall_and_wide_images():
    tall = np.arange(12 * 6).reshape(12, 6, 1)
    np.testing.assert_array_equal(square_crop(tall, "top_left"), tall[:6])
    np.testing.assert_array_equal(square_crop(tall, "center"), tall[3:9])
    wide = np.arange(5 * 9).reshape(5, 9, 1)
    np.testing.assert_array_equal(square_crop(wide, "center"), wide[:, 2:7])
    with pytest.raises(
        InrBenchError, match=r"data.crop must be one of \('top_left', 'center'\), got 'middle'"
    ):
        square_crop(tall, "middle")


def test_select_channels_modes():
    rgba = np.random.default_rng(0).random((3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(select_channels(rgba, "first"), rgba[..., :1])
    np.testing.assert_array_equal(select_channels(rgba, "rgb"), rgba[..., :3])
    lum = select_channels(rgba, "luminance")
    assert lum.dtype == np.float32 and lum.shape == (3, 4, 1)
    np.testing.assert_allclose(lum[..., 0], rgba[..., :3] @ np.array([0.2125, 0.7154, 0.0721]), rtol=1e-6)
    grey = rgba[..., :1]
    np.testing.assert_array_equal(select_channels(grey, "luminance"), grey)  # already one channel
    with pytest.raises(InrBenchError, match="^data.channels=rgb was asked for a greyscale image"):
        select_channels(grey, "rgb")
    with pytest.raises(InrBenchError, match=r"data.channels must be one of .*got 'ycbcr'"):
        select_channels(rgba, "ycbcr")


def test_preprocess_checks_the_size_and_returns_float32():
    pixels = np.linspace(0, 1, 36, dtype=np.float64).reshape(6, 6)
    out = preprocess_image(pixels, size=1)  # one pixel: the antialiased mean
    assert out.dtype == np.float32 and out.shape == (1, 1, 1)
    assert out[0, 0, 0] == pytest.approx(2 * pixels.mean() - 1, abs=1e-6)
    assert preprocess_image(pixels, size=6).dtype == np.float32
    for bad in (0, -4, "3", 2.0):
        with pytest.raises(InrBenchError, match="data.size must be a positive number of pixels"):
            preprocess_image(pixels, size=bad)
