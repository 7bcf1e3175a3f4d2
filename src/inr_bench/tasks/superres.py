"""Super-resolution (paper A.5, A.9.4): fit the image at its base size, query the INR at f times
the size, score against the ground truth at that size, beside bicubic upsampling of the same base.

Convention (pixel centres): a pixel is an area, and every raster of the image covers the same
extent. The base image (the data's antialiased resize of the source) has its pixel i centred at
(i + 0.5) / n of the extent, and the INR saw that pixel at linspace(-1, 1, n)[i]. Target pixel j
of an m = f n raster is centred at (j + 0.5) / m, so the INR is queried at
-1 + 2 ((j + 0.5) / f - 0.5) / (n - 1): the same affine frame, slightly beyond [-1, 1] at the
edges. Each base pixel centre is the centre of its f x f block of query points, and when the
source crop has exactly m pixels the query points land on the source's own pixels. Targets are
the source crop itself (side == m), its antialiased bilinear downsample (side > m, the
preprocessing the base went through) or, flagged `target_interpolated`, its bilinear upsample
(side < m). `query_grid=linspace` queries linspace(-1, 1, m) instead, as the SPDER reference did:
misaligned with those targets by up to half a base pixel near the edges.

Bicubic baseline: torch.nn.functional.interpolate(mode="bicubic", align_corners=False) of the
base image (Keys kernel a = -0.75, borders replicated, not clamped), i.e. the same pixel-centre
convention. No output is clamped to [-1, 1], the INR's neither.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from inr_bench.data.image import resize_bilinear, select_channels, square_crop, to_unit_float
from inr_bench.errors import InrBenchError
from inr_bench.tasks.base import DownstreamTask, linspace_grid, pixel_centre_grid, score

QUERY_GRIDS = ("pixel_centres", "linspace")


def bicubic_upsample(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, C) -> (size, C) by PyTorch's bicubic, half-pixel centres, unclamped."""
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    out = F.interpolate(tensor, size=tuple(size), mode="bicubic", align_corners=False)
    return out[0].permute(1, 2, 0).numpy()


def source_image(datamodule) -> np.ndarray:
    """The source square crop, channel-selected as the base was, in [0, 1], before resizing."""
    pixels = to_unit_float(datamodule.raw_pixels())
    return select_channels(square_crop(pixels, datamodule.crop), datamodule.channels)


def ground_truth_at(source: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, str, bool]:
    """The target at `size` in [-1, 1], how it was made, and whether it had to be upsampled."""
    side = source.shape[0]
    if (side, source.shape[1]) == tuple(size):
        how, interpolated = f"the original {side}x{side} crop's own pixels", False
        image = source
    elif side > min(size):
        how, interpolated = f"the original {side}x{side} crop, antialiased bilinear downsample", False
        image = resize_bilinear(source, size)
    else:
        how, interpolated = (
            f"INTERPOLATED: bilinear upsample of the {side}x{side} original (source too small)",
            True,
        )
        image = resize_bilinear(source, size)
    return (image * 2.0 - 1.0).astype(np.float32), how, interpolated


class SuperResolution(DownstreamTask):
    """Query the fitted image INR at `factors` x its size; bicubic from the same base beside it."""

    def __init__(
        self,
        name: str = "superres",
        factors=(2, 4, 8),
        query_grid: str = "pixel_centres",
        chunk_size: int | None = 65536,
        save_images: bool = True,
        max_saved_size: int = 4096,
    ) -> None:
        if query_grid not in QUERY_GRIDS:
            raise InrBenchError(f"task.query_grid must be one of {QUERY_GRIDS}, got {query_grid!r}.")
        if not factors or any(int(f) < 1 for f in factors):
            raise InrBenchError(f"task.factors must be positive integers, got {list(factors)}.")
        self.name, self.factors, self.query_grid = name, [int(f) for f in factors], query_grid
        self.chunk_size, self.save_images, self.max_saved_size = chunk_size, save_images, max_saved_size

    def query_coords(self, base_shape, size, scale: float = 1.0) -> torch.Tensor:
        if self.query_grid == "linspace":
            return linspace_grid(size, scale)
        return pixel_centre_grid(base_shape, size, scale)

    def run(self, module, datamodule, out_dir: Path, rho_variant: str = "reference") -> dict:
        if getattr(datamodule, "kind", None) != "image" or not hasattr(datamodule, "raw_pixels"):
            raise InrBenchError("task=superres needs an image dataset (data=div2k, data=camera, ...).")
        base_shape = tuple(datamodule.signal_shape)
        base = datamodule.signal_array(datamodule.values)
        source = source_image(datamodule)
        record = {
            "name": self.name,
            "base_size": list(base_shape),
            "source_size": list(source.shape[:2]),
            "query_grid": self.query_grid,
            "convention": (
                "pixel centres: target pixel j of f*n sits at -1 + 2((j + 0.5)/f - 0.5)/(n - 1)"
                if self.query_grid == "pixel_centres"
                else "linspace(-1, 1, f*n) (reference code; shifted against half-pixel targets)"
            ),
            "baselines": {
                "bicubic_from_base": "torch interpolate bicubic (a=-0.75), align_corners=False, unclamped"
            },
            "factors": {},
        }
        shown = []
        for factor in self.factors:
            size = tuple(n * factor for n in base_shape)
            target, how, interpolated = ground_truth_at(source, size)
            coords = self.query_coords(base_shape, size, datamodule.coord_scale)
            pred = module.predict_points(coords, self.chunk_size)
            bicubic = bicubic_upsample(base, size)
            target_t = torch.from_numpy(target.reshape(-1, target.shape[-1]))
            record["factors"][str(factor)] = {
                "size": list(size),
                "target": how,
                "target_interpolated": interpolated,
                "inr": score(pred, target_t, size, datamodule.data_range, rho_variant),
                "bicubic_from_base": score(
                    torch.from_numpy(bicubic.reshape(-1, bicubic.shape[-1])),
                    target_t,
                    size,
                    datamodule.data_range,
                    rho_variant,
                ),
            }
            if self.save_images:
                shown.append(
                    (factor, target, bicubic, pred.reshape(*size, -1).numpy(), record["factors"][str(factor)])
                )
                if max(size) <= self.max_saved_size:
                    from inr_bench.visualize import save_png

                    save_png(pred.reshape(*size, -1).numpy(), Path(out_dir) / f"superres_x{factor}_inr.png")
                    save_png(bicubic, Path(out_dir) / f"superres_x{factor}_bicubic.png")
                    save_png(target, Path(out_dir) / f"superres_x{factor}_target.png")
        if shown:
            record["figure"] = str(save_superres_figure(base, shown, Path(out_dir) / "superres.png"))
        return record


def _centre_crop(image: np.ndarray, fraction: float = 0.25) -> np.ndarray:
    """The middle `fraction` of each side: the same region of the scene at every size."""
    h, w = image.shape[:2]
    ch, cw = max(1, int(round(h * fraction))), max(1, int(round(w * fraction)))
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top : top + ch, left : left + cw]


def save_superres_figure(base: np.ndarray, shown: list, path: Path) -> Path:
    """Per factor, the central quarter of: the base (nearest), bicubic, the INR, the target."""
    import matplotlib.pyplot as plt

    from inr_bench.visualize import to_uint8

    figure, axes = plt.subplots(len(shown), 4, figsize=(12, 3.2 * len(shown)), squeeze=False)
    for row, (factor, target, bicubic, pred, metrics) in enumerate(shown):
        panels = (
            (base, f"base {base.shape[0]}x{base.shape[1]} (nearest)"),
            (bicubic, f"bicubic x{factor}: {metrics['bicubic_from_base']['psnr']:.2f} dB"),
            (pred, f"INR x{factor}: {metrics['inr']['psnr']:.2f} dB"),
            (
                target,
                f"target {target.shape[0]}px" + (" (interpolated)" if metrics["target_interpolated"] else ""),
            ),
        )
        for axis, (image, title) in zip(axes[row], panels, strict=True):
            crop = to_uint8(_centre_crop(image))
            axis.imshow(
                crop, cmap="gray" if crop.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest"
            )
            axis.set_title(title, fontsize=9)
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle("super-resolution, central quarter of the image (PSNR against the target)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
