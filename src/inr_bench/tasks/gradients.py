"""Image gradients (paper 4.2.1, A.4, A.9.3): the autograd gradient of the fitted INR with
respect to its input coordinates, against the finite-difference gradient of the ground truth.

Both are in value units per coordinate unit (values in [-1, 1], grid spacing
h = 2 * coord_scale / (n - 1)), on the training grid. The reference is NumPy's `np.gradient` of the
ground truth: central differences (v[i+1] - v[i-1]) / 2h inside, one-sided first-order
differences at the borders. Rows of the record:
- `inr_autograd`: torch.autograd.grad of the INR's output at the grid points (the task);
- `inr_finite_difference`: the same difference operator applied to the INR's reconstruction
  (separates fit error from the derivative-versus-difference gap);
- `sobel_of_ground_truth`: the classical edge detector (central difference smoothed by
  [1, 2, 1] / 4 across the other axes, borders replicated), a second classical estimator.
Metrics: `cosine` (of the whole gradient fields), `relative_l2` (||g - g_ref|| / ||g_ref||), and
`magnitude_psnr` (PSNR of |g| against |g_ref|, peak = the reference's largest magnitude).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from inr_bench.tasks.base import DownstreamTask


def grid_spacing(signal_shape, coord_scale: float = 1.0) -> list[float]:
    """Coordinate distance between neighbouring samples per axis of linspace(-1, 1, n) * scale."""
    return [2.0 * coord_scale / (n - 1) for n in signal_shape]


def finite_difference_gradient(signal: np.ndarray, spacing) -> np.ndarray:
    """(*shape, C) -> (*shape, C, d): np.gradient along each signal axis (central inside,
    one-sided at the borders)."""
    d = signal.ndim - 1
    parts = np.gradient(signal.astype(np.float64), *spacing, axis=tuple(range(d)))
    parts = parts if isinstance(parts, (list, tuple)) else [parts]
    return np.stack(parts, axis=-1)


def sobel_gradient(signal: np.ndarray, spacing) -> np.ndarray:
    """(*shape, C) -> (*shape, C, d): Sobel filter per axis, scaled to value per coordinate unit
    (scipy's kernel is [-1, 0, 1] times [1, 2, 1] on each other axis, borders 'nearest')."""
    d = signal.ndim - 1
    parts = []
    for axis in range(d):
        # ndimage.sobel smooths every other axis of its array: filter each channel on its own.
        filtered = np.stack(
            [
                ndimage.sobel(signal[..., c].astype(np.float64), axis=axis, mode="nearest")
                for c in range(signal.shape[-1])
            ],
            axis=-1,
        )
        parts.append(filtered / (2.0 * spacing[axis] * 4.0 ** (d - 1)))
    return np.stack(parts, axis=-1)


def autograd_gradient(
    net: torch.nn.Module, coords: torch.Tensor, chunk_size: int | None = None
) -> torch.Tensor:
    """(N, C, d): d output_c / d coords at each point, by torch.autograd.grad, in chunks."""
    device = next(net.parameters()).device
    chunk_size = chunk_size or coords.shape[0]
    pieces = []
    with torch.enable_grad():
        for part in torch.split(coords, chunk_size):
            x = part.to(device).detach().requires_grad_(True)
            y = net(x)
            grads = [
                torch.autograd.grad(y[:, c].sum(), x, retain_graph=c < y.shape[1] - 1)[0]
                for c in range(y.shape[1])
            ]
            pieces.append(torch.stack(grads, dim=1).detach().cpu())
    return torch.cat(pieces)


def compare_gradients(grad: np.ndarray, reference: np.ndarray) -> dict:
    g, r = grad.astype(np.float64).ravel(), reference.astype(np.float64).ravel()
    norm_g, norm_r = np.linalg.norm(g), np.linalg.norm(r)
    magnitude, magnitude_ref = np.linalg.norm(grad, axis=-1), np.linalg.norm(reference, axis=-1)
    mse = float(np.mean((magnitude - magnitude_ref) ** 2))
    peak = float(magnitude_ref.max())
    return {
        "cosine": float(g @ r / (norm_g * norm_r)) if norm_g > 0 and norm_r > 0 else None,
        "relative_l2": float(np.linalg.norm(g - r) / norm_r) if norm_r > 0 else None,
        "magnitude_psnr": (10 * math.log10(peak**2 / mse) if mse > 0 else math.inf) if peak > 0 else None,
    }


class Gradients(DownstreamTask):
    """Autograd gradient of the fitted INR versus finite differences of the ground truth."""

    def __init__(
        self, name: str = "gradients", chunk_size: int | None = 16384, save_images: bool = True
    ) -> None:
        self.name, self.chunk_size, self.save_images = name, chunk_size, save_images

    def run(self, module, datamodule, out_dir: Path, rho_variant: str = "reference") -> dict:
        shape = tuple(datamodule.signal_shape)
        spacing = grid_spacing(shape, datamodule.coord_scale)
        truth = datamodule.signal_array(datamodule.values)
        reconstruction = module.predict_points(datamodule.coords, self.chunk_size)
        grad_inr = autograd_gradient(module.net, datamodule.coords, self.chunk_size)
        grad_inr = grad_inr.reshape(*shape, *grad_inr.shape[1:]).numpy()
        reference = finite_difference_gradient(truth, spacing)
        rows = {
            "inr_autograd": grad_inr,
            "inr_finite_difference": finite_difference_gradient(
                datamodule.signal_array(reconstruction), spacing
            ),
            "sobel_of_ground_truth": sobel_gradient(truth, spacing),
        }
        record = {
            "name": self.name,
            "reference": "np.gradient of the ground truth (central differences, one-sided at borders), "
            "value per coordinate unit",
            "grid_spacing": spacing,
            "signal_shape": list(shape),
            "reference_mean_magnitude": float(np.linalg.norm(reference, axis=-1).mean()),
            **{key: compare_gradients(value, reference) for key, value in rows.items()},
        }
        if self.save_images and len(shape) == 2:
            path = save_gradient_figure(
                truth,
                datamodule.signal_array(reconstruction),
                reference,
                rows,
                record,
                Path(out_dir) / "gradients.png",
            )
            record["figure"] = str(path)
        return record


def save_gradient_figure(truth, reconstruction, reference, rows, record, path: Path) -> Path:
    """Image, |gradient| of the ground truth (finite differences) and of the INR (autograd)."""
    import matplotlib.pyplot as plt

    from inr_bench.visualize import to_uint8

    def magnitude(grad):  # channel 0, norm over the spatial axes
        return np.linalg.norm(grad[..., 0, :], axis=-1)

    vmax = float(np.percentile(magnitude(reference), 99.5)) or 1.0
    panels = [
        (to_uint8(truth), "ground truth", "gray", 0, 255),
        (magnitude(reference), "|grad| ground truth (finite differences)", "magma", 0, vmax),
        (
            magnitude(rows["inr_autograd"]),
            f"|grad| INR (autograd): cosine {record['inr_autograd']['cosine']:.4f}",
            "magma", 0, vmax,
        ),
        (to_uint8(reconstruction), "INR reconstruction", "gray", 0, 255),
        (
            magnitude(rows["sobel_of_ground_truth"]),
            f"|grad| Sobel of ground truth: cosine {record['sobel_of_ground_truth']['cosine']:.4f}",
            "magma", 0, vmax,
        ),
        (magnitude(rows["inr_autograd"] - reference), "|autograd - finite differences|", "magma", 0, vmax),
    ]  # fmt: skip
    figure, axes = plt.subplots(2, 3, figsize=(12, 8))
    for axis, (image, title, cmap, low, high) in zip(axes.flat, panels, strict=True):
        axis.imshow(image, cmap=cmap, vmin=low, vmax=high)
        axis.set_title(title, fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
