"""Images: scikit-image pictures by name, folder datasets (DIV2K, FFHQ, ...) and single files.

Preprocessing follows the SPDER reference code: square crop (top-left by default), bilinear
resize with antialiasing to `size` x `size`, channel 0 by default ("a single channel" in the
paper; luminance and RGB selectable), values scaled to [-1, 1].
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from inr_bench.data.base import CoordinateDataModule
from inr_bench.data.paths import IMAGE_SUFFIXES, describe_file_content, list_files, require_file
from inr_bench.errors import InrBenchError

SKIMAGE_PICTURES = (
    "astronaut", "brick", "camera", "cat", "checkerboard", "chelsea", "clock", "coffee", "coins",
    "colorwheel", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry",
    "logo", "moon", "motorcycle_left", "page", "retina", "rocket", "text",
)  # fmt: skip
CROPS = ("top_left", "center")
SKIP_FIX = "Replace or delete it, or pass `data.skip_bad_files=true` to skip unreadable files."
CHANNEL_MODES = ("first", "luminance", "rgb")


def load_skimage_picture(name: str) -> np.ndarray:
    """One of scikit-image's sample pictures, as an array."""
    import skimage.data

    if name not in SKIMAGE_PICTURES:
        raise InrBenchError(
            f"Unknown scikit-image picture {name!r}. Choose one of: {', '.join(SKIMAGE_PICTURES)} "
            f"(e.g. `data=skimage data.picture=astronaut`), or use `data=image_folder data.path=DIR`."
        )
    try:
        return np.asarray(getattr(skimage.data, name)())
    except Exception as error:  # some pictures are downloaded on first use (pooch)
        raise InrBenchError(
            f"scikit-image could not provide the picture {name!r} ({type(error).__name__}: {error}). "
            f"Pictures other than the bundled ones are downloaded on first use: run once with network "
            f"access, or choose a bundled one such as camera or astronaut."
        ) from error


def read_image_file(path: Path) -> np.ndarray:
    """Pixels of an image file; a clear error naming the file when it cannot be decoded.

    Palette and CMYK/YCbCr/LAB/HSV images are converted to RGB(A) (their raw arrays are palette
    indices or another colour space); 32-bit integer images must hold 16-bit values."""
    from PIL import Image, UnidentifiedImageError

    if path.is_file() and path.stat().st_size == 0:
        raise InrBenchError(f"Cannot read image {path}: the file is empty (0 bytes). {SKIP_FIX}")
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("P", "PA"):
                image = image.convert("RGBA")
            elif image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                image = image.convert("RGB")
            pixels = np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise InrBenchError(
            f"Cannot read image {path}: {error}. The file is truncated, corrupt or not an image."
            f"{describe_file_content(path)} {SKIP_FIX}"
        ) from error
    if pixels.dtype == np.int32:  # PIL mode "I": 16-bit data in 32-bit integers
        if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
            raise InrBenchError(
                f"Cannot read image {path}: 32-bit integer pixels outside 0..65535 have no known white "
                f"level. Convert it to 8- or 16-bit first. {SKIP_FIX}"
            )
        pixels = pixels.astype(np.uint16)
    elif (
        pixels.dtype.kind == "f"
        and pixels.size
        and (not np.isfinite(pixels).all() or pixels.min() < -1e-3 or pixels.max() > 1 + 1e-3)
    ):
        raise InrBenchError(
            f"Cannot read image {path}: floating-point pixels must be finite and lie in [0, 1], these range over "
            f"[{pixels.min():.4g}, {pixels.max():.4g}]. Convert it to 8- or 16-bit, or rescale it to [0, 1]. {SKIP_FIX}"
        )
    return pixels


def to_unit_float(pixels: np.ndarray) -> np.ndarray:
    """Integer or float pixels as float32 in [0, 1], channels-last (H, W, C), alpha dropped."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3:
        raise InrBenchError(
            f"Expected a 2-D image (H, W) or (H, W, C), got an array of shape {pixels.shape}."
        )
    if pixels.shape[-1] in (2, 4):  # grey+alpha, RGBA: the alpha channel is no signal
        pixels = pixels[..., :-1]
    if np.issubdtype(pixels.dtype, np.integer):
        return (pixels.astype(np.float32) / np.iinfo(pixels.dtype).max).astype(np.float32)
    if pixels.dtype == bool:
        return pixels.astype(np.float32)
    return np.clip(pixels.astype(np.float32), 0.0, 1.0)


def square_crop(image: np.ndarray, crop: str) -> np.ndarray:
    """The largest square of (H, W, C): anchored top-left (reference code) or centred."""
    side = min(image.shape[:2])
    if crop == "top_left":
        return image[:side, :side]
    if crop == "center":
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        return image[top : top + side, left : left + side]
    raise InrBenchError(f"data.crop must be one of {CROPS}, got {crop!r}.")


def resize_bilinear(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize of (H, W, C), as torchvision's Resize (the reference's)."""
    height, width = (size, size) if isinstance(size, int) else size
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    if tensor.shape[-2:] != (height, width):
        tensor = F.interpolate(
            tensor, size=(height, width), mode="bilinear", antialias=True, align_corners=False
        )
    return tensor[0].permute(1, 2, 0).numpy()


def select_channels(image: np.ndarray, mode: str) -> np.ndarray:
    """(H, W, C) -> channel 0, ITU-R BT.709 luminance (as skimage.color.rgb2gray), or RGB."""
    if mode == "first":
        return image[..., :1]
    if mode == "luminance":
        if image.shape[-1] == 1:
            return image
        return (image[..., :3] @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32))[..., None]
    if mode == "rgb":
        if image.shape[-1] == 1:
            raise InrBenchError("data.channels=rgb was asked for a greyscale image; use first or luminance.")
        return image[..., :3]
    raise InrBenchError(f"data.channels must be one of {CHANNEL_MODES}, got {mode!r}.")


def preprocess_image(
    pixels: np.ndarray, size: int, crop: str = "top_left", channels: str = "first"
) -> np.ndarray:
    """Raw pixels -> square, resized, channel-selected (size, size, C) float32 in [-1, 1]."""
    if not isinstance(size, int) or size < 1:
        raise InrBenchError(f"data.size must be a positive number of pixels, got {size!r}.")
    image = square_crop(to_unit_float(pixels), crop)
    image = select_channels(image, channels)
    image = resize_bilinear(image, size)
    return (image * 2.0 - 1.0).astype(np.float32)


class ImageDataModule(CoordinateDataModule):
    """One image, from `picture` (a scikit-image sample picture) or `path`: an image file, or a
    dataset folder in which `index` picks one image in sorted file-name order."""

    kind = "image"

    def __init__(
        self,
        name: str,
        picture: str | None = None,
        path: str | None = None,
        index: int = 0,
        size: int = 256,
        crop: str = "top_left",
        channels: str = "first",
        skip_bad_files: bool = False,
        download_hint: str | None = None,
        chunk_size: int | None = None,
        coord_scale: float = 1.0,
    ) -> None:
        super().__init__(name=name, chunk_size=chunk_size, coord_scale=coord_scale)
        if picture is None and path is None:
            raise InrBenchError(
                f"data={name} needs data.path: an image file, or a folder of images (data.index picks one "
                f"in sorted order), e.g. data.path=~/pictures; or data.picture=<a scikit-image picture>."
            )
        if picture is not None and path is not None:
            raise InrBenchError(
                f"data={name}: give exactly one of data.picture (a scikit-image picture) or data.path "
                f"(an image file or a folder of images); got picture={picture!r}, path={path!r}."
            )
        self.picture, self.path = picture, path
        self.index, self.size, self.crop, self.channels = index, size, crop, channels
        self.skip_bad_files = skip_bad_files
        self.download_hint = download_hint
        self.source: str | None = None

    def _folder_image(self) -> tuple[np.ndarray, Path]:
        files = list_files(self.path, IMAGE_SUFFIXES, self.download_hint)
        if not isinstance(self.index, int) or self.index < 0:
            raise InrBenchError(f"data.index must be a non-negative integer, got {self.index!r}.")
        readable = -1
        for path in files:
            try:
                pixels = read_image_file(path)
            except InrBenchError as error:
                if not self.skip_bad_files:
                    raise
                reason = str(error).replace(f" {SKIP_FIX}", "")
                warnings.warn(f"data.skip_bad_files=true: skipping {path.name}: {reason}", stacklevel=2)
                continue
            readable += 1
            if readable == self.index:
                return pixels, path
        if readable < 0:
            raise InrBenchError(
                f"None of the {len(files)} image files in {Path(self.path).resolve()} could be read (the "
                f"warnings above say why for each). Replace them, or point data.path at another folder."
            )
        raise InrBenchError(
            f"data.index={self.index} but {Path(self.path).resolve()} holds only {readable + 1} readable "
            f"image(s) (of {len(files)} image files); use data.index between 0 and {readable}."
        )

    def raw_pixels(self) -> np.ndarray:
        """The source image before preprocessing (super-resolution reads targets from it)."""
        if self.picture is not None:
            self.source = f"skimage.data.{self.picture}"
            return load_skimage_picture(self.picture)
        if Path(self.path).suffix.lower() in IMAGE_SUFFIXES:
            path = require_file(self.path, self.download_hint)
            self.source = str(path)
            return read_image_file(path)
        pixels, path = self._folder_image()
        self.source = str(path)
        return pixels

    def load_signal(self) -> np.ndarray:
        pixels = self.raw_pixels()
        side = min(pixels.shape[:2]) if pixels.ndim >= 2 else 0
        if isinstance(self.size, int) and not isinstance(self.size, bool) and self.size > side:
            raise InrBenchError(
                f"data.size={self.size} is larger than the image ({self.source}: {pixels.shape[1]}x"
                f"{pixels.shape[0]}, square crop {side}x{side}): the fit would be to an upsampled picture. "
                f"Use data.size={side} or less."
            )
        return preprocess_image(pixels, self.size, self.crop, self.channels)

    def save_outputs(
        self, pred_values: torch.Tensor, out_dir: Path, metrics: dict | None = None
    ) -> list[Path]:
        from inr_bench.visualize import save_image_comparison

        return save_image_comparison(
            self.signal_array(self.values), self.signal_array(pred_values), Path(out_dir), metrics
        )
