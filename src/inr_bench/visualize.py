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


def evaluation_pictures(pred: np.ndarray) -> dict[str, np.ndarray]:
    """What the loggers show at an evaluation, as uint8 pictures: the reconstruction and its
    log-amplitude spectrum, for an image (H, W, C) or a video's middle frame (T, H, W, C);
    nothing for audio."""
    if pred.ndim == 4:
        pred = pred[pred.shape[0] // 2]
    if pred.ndim != 3:
        return {}
    spectrum = log_spectrum(pred)
    spectrum = (255 * (spectrum - spectrum.min()) / max(float(np.ptp(spectrum)), 1e-12)).astype(np.uint8)
    return {"reconstruction": to_uint8(pred), "spectrum": spectrum}


def _metrics_caption(metrics: dict | None) -> str:
    if not metrics:
        return "reconstruction"
    return f"reconstruction: PSNR {metrics['psnr']:.2f} dB, rho_AG {metrics['rho_ag']:.4f}"


def save_image_comparison(
    truth: np.ndarray, pred: np.ndarray, out_dir: Path, metrics: dict | None = None
) -> list[Path]:
    """ground_truth.png, reconstruction.png, and comparison.png (images, error, spectra)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [save_png(truth, out_dir / "ground_truth.png"), save_png(pred, out_dir / "reconstruction.png")]
    figure, axes = plt.subplots(2, 3, figsize=(12, 8))
    grey = "gray" if truth.shape[-1] == 1 else None
    for axis, image, title in (
        (axes[0, 0], truth, "ground truth"),
        (axes[0, 1], pred, _metrics_caption(metrics)),
    ):
        axis.imshow(to_uint8(image), cmap=grey, vmin=0, vmax=255)
        axis.set_title(title, fontsize=9)
    error = np.abs(pred - truth).mean(axis=-1)
    shown = axes[0, 2].imshow(error, cmap="magma")
    axes[0, 2].set_title("|error|", fontsize=9)
    figure.colorbar(shown, ax=axes[0, 2], fraction=0.046)
    spectra = (log_spectrum(truth), log_spectrum(pred))
    vmax = max(s.max() for s in spectra)
    for axis, spectrum, title in zip(
        axes[1, :2], spectra, ("log|FFT| ground truth", "log|FFT| reconstruction"), strict=True
    ):
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


def _amplitude_spectrum_db(samples: np.ndarray) -> np.ndarray:
    """20 log10 |rFFT| of a 1-D signal, floored 120 dB below its peak."""
    amplitude = np.abs(np.fft.rfft(np.asarray(samples, dtype=np.float64)))
    floor = max(amplitude.max(), 1e-30) * 1e-6
    return 20.0 * np.log10(np.maximum(amplitude, floor))


def audio_caption(label: str, metrics: dict | None) -> str:
    if not metrics:
        return label
    return (
        f"{label}: MSE {metrics['loss']:.3g}, PSNR {metrics['psnr']:.2f} dB, rho_AG {metrics['rho_ag']:.4f}"
    )


def save_audio_comparison(
    truth: np.ndarray, reconstructions: dict[str, np.ndarray], sample_rate: int, path: Path, title: str = ""
) -> Path:
    """Waveforms (whole clip and a 20 ms zoom around its peak) and amplitude spectra of the ground
    truth and of each reconstruction (label -> 1-D array), in one picture."""
    truth = np.asarray(truth).reshape(-1)
    seconds = np.arange(truth.shape[0]) / sample_rate
    figure, axes = plt.subplots(3, 1, figsize=(12, 10))
    half = max(int(0.01 * sample_rate), 1)
    peak = int(np.argmax(np.abs(truth)))  # zoom where the clip is loudest, not into a pause
    zoom = slice(max(peak - half, 0), min(peak + half, truth.shape[0]))
    colours = ("tab:orange", "tab:blue", "tab:green", "tab:red")
    frequencies = np.fft.rfftfreq(truth.shape[0], d=1.0 / sample_rate)
    axes[2].plot(frequencies, _amplitude_spectrum_db(truth), lw=0.5, color="black", label="ground truth")
    for axis, part, name in (
        (axes[0], slice(None), "waveform"),
        (axes[1], zoom, "waveform, 20 ms around the peak"),
    ):
        axis.plot(seconds[part], truth[part], lw=0.6, color="black", label="ground truth")
        axis.set_xlabel("time (s)")
        axis.set_title(name, fontsize=9)
    for colour, (label, pred) in zip(colours, reconstructions.items(), strict=False):
        pred = np.asarray(pred).reshape(-1)
        for axis, part in ((axes[0], slice(None)), (axes[1], zoom)):
            axis.plot(seconds[part], pred[part], lw=0.6, color=colour, alpha=0.8, label=label)
        axes[2].plot(frequencies, _amplitude_spectrum_db(pred), lw=0.5, color=colour, alpha=0.7, label=label)
    for axis in axes:
        axis.legend(loc="upper right", fontsize=8)
    axes[2].set_xlabel("frequency (Hz)")
    axes[2].set_ylabel("|FFT| (dB)")
    axes[2].set_title("amplitude spectra", fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def save_video_frames(
    truth: np.ndarray, pred: np.ndarray, path: Path, metrics: dict | None = None, count: int = 6
) -> Path:
    """A PNG grid of `count` evenly spaced frames: ground truth above, reconstruction below.
    Frames are (T, H, W, C) in [-1, 1]."""
    frames = np.unique(np.linspace(0, truth.shape[0] - 1, min(count, truth.shape[0])).round().astype(int))
    height, width = truth.shape[1:3]
    scale = 2.2 / max(height, width)
    figure, axes = plt.subplots(
        2, len(frames), figsize=(max(len(frames) * width * scale, 4), 2 * height * scale + 0.8), squeeze=False
    )
    grey = "gray" if truth.shape[-1] == 1 else None
    for column, frame in enumerate(frames):
        for row, video in enumerate((truth, pred)):
            axis = axes[row, column]
            axis.imshow(to_uint8(video[frame]), cmap=grey, vmin=0, vmax=255)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"{'ground truth' if row == 0 else 'reconstruction'}, frame {frame}", fontsize=7)
    if metrics:
        ssim = f", SSIM {metrics['ssim']:.3f}" if metrics.get("ssim") is not None else ""
        figure.suptitle(f"PSNR {metrics['psnr']:.2f} dB{ssim}, rho_AG {metrics['rho_ag']:.4f}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
