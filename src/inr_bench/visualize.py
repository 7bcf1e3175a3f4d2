"""Pictures people would rather look at than numbers: reconstructions, spectra, loss curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: runs on headless machines and in worker processes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def to_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W, C) in [-1, 1] -> uint8 (H, W) or (H, W, 3)."""
    pixels = np.clip((image + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


def save_png(image: np.ndarray, path: Path) -> Path:
    Image.fromarray(to_uint8(image)).save(path)
    return path


def log_spectrum(image: np.ndarray) -> np.ndarray:
    """log(1 + |FFT|) of channel 0, zero frequency in the centre."""
    return np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(image[..., 0]))))


def _metrics_caption(metrics: dict | None) -> str:
    if not metrics:
        return "reconstruction"
    return f"reconstruction: PSNR {metrics['psnr']:.2f} dB, rho_AG {metrics['rho_ag']:.4f}"


def save_image_comparison(truth: np.ndarray, pred: np.ndarray, out_dir: Path, metrics: dict | None = None) -> list[Path]:
    """ground_truth.png, reconstruction.png, and comparison.png (images, error, spectra)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [save_png(truth, out_dir / "ground_truth.png"), save_png(pred, out_dir / "reconstruction.png")]
    figure, axes = plt.subplots(2, 3, figsize=(12, 8))
    grey = "gray" if truth.shape[-1] == 1 else None
    for axis, image, title in ((axes[0, 0], truth, "ground truth"), (axes[0, 1], pred, _metrics_caption(metrics))):
        axis.imshow(to_uint8(image), cmap=grey, vmin=0, vmax=255)
        axis.set_title(title, fontsize=9)
    error = np.abs(pred - truth).mean(axis=-1)
    shown = axes[0, 2].imshow(error, cmap="magma")
    axes[0, 2].set_title("|error|", fontsize=9)
    figure.colorbar(shown, ax=axes[0, 2], fraction=0.046)
    spectra = (log_spectrum(truth), log_spectrum(pred))
    vmax = max(s.max() for s in spectra)
    for axis, spectrum, title in zip(axes[1, :2], spectra, ("log|FFT| ground truth", "log|FFT| reconstruction")):
        axis.imshow(spectrum, cmap="viridis", vmin=0, vmax=vmax)
        axis.set_title(title, fontsize=9)
    axes[1, 2].imshow(np.abs(spectra[1] - spectra[0]), cmap="magma")
    axes[1, 2].set_title("|difference of log spectra|", fontsize=9)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    paths.append(out_dir / "comparison.png")
    figure.savefig(paths[-1], dpi=100)
    plt.close(figure)
    return paths


def plot_loss_curve(steps: list[int], losses: list[float], path: Path, title: str = "") -> Path:
    """Training loss (log scale) against step."""
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.semilogy(steps, np.maximum(np.asarray(losses, dtype=float), 1e-30))
    axis.set_xlabel("step")
    axis.set_ylabel("MSE loss")
    axis.set_title(title, fontsize=9)
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
