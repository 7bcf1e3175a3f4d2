"""Audio interpolation (paper A.6.1, A.9.6): train on every k-th sample (k = `keep_every`, 8 in
the paper), predict at f times that density (f = 2, 4, 8: every k/f-th sample of the clip) and
score against the true samples there, beside two classical interpolators of the same k-th samples.

Bookkeeping: sample n of the clip sits at coordinate linspace(-1, 1, N)[n] * coord_scale. The
network trains on samples 0, k, 2k, ... at their own positions on that grid
(`CoordinateDataModule.keep_subgrid`), and factor f queries samples 0, k/f, 2k/f, ... at theirs,
so every query lands on a true sample. Per factor the record gives the metrics over all queried
samples (what the paper reports; 1/f of them were trained on) and `held_out_*` over the samples
never trained on. The run's "evals" score the training samples only.

Baselines (the same k-th samples in, the same positions out):
- `linear_interp`: np.interp between neighbouring training samples (after the last training
  sample it holds its value);
- `bandlimited_fft`: periodic sinc interpolation by zero-padding the spectrum of the M training
  samples to M k bins (the Nyquist bin of an even M split in two halves), i.e. the ideal
  low-pass interpolator for a signal band-limited to the training rate's Nyquist frequency
  (treats the clip as periodic, so the ends ring).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inr_bench.errors import InrBenchError
from inr_bench.metrics import psnr
from inr_bench.tasks.base import DownstreamTask, score


def linear_interpolate(
    known_index: np.ndarray, known_values: np.ndarray, query_index: np.ndarray
) -> np.ndarray:
    """Piecewise-linear interpolation in sample-index units (np.interp: constant past the ends)."""
    return np.interp(
        query_index.astype(np.float64), known_index.astype(np.float64), known_values.astype(np.float64)
    )


def fft_upsample(samples: np.ndarray, factor: int) -> np.ndarray:
    """Band-limited (periodic sinc) upsampling of M samples to M * factor by zero-padding the
    spectrum; output sample i sits at input position i / factor."""
    samples = np.asarray(samples, dtype=np.float64)
    if factor == 1:
        return samples.copy()
    m = samples.shape[0]
    spectrum = np.fft.rfft(samples)
    padded = np.zeros((m * factor) // 2 + 1, dtype=complex)
    padded[: spectrum.shape[0]] = spectrum
    if m % 2 == 0:  # the Nyquist cosine is cos(pi t) split evenly over +f and -f
        padded[m // 2] *= 0.5
    return np.fft.irfft(padded, n=m * factor) * factor


def bandlimited_interpolate(known_values: np.ndarray, stride: int, query_index: np.ndarray) -> np.ndarray:
    """Values at sample indices `query_index` of a signal known at 0, stride, 2 stride, ..."""
    return fft_upsample(known_values, stride)[query_index]


class AudioInterpolation(DownstreamTask):
    """Fit every `keep_every`-th sample; predict at `factors` times that density."""

    def __init__(
        self,
        name: str = "audio_interp",
        keep_every: int = 8,
        factors=(2, 4, 8),
        chunk_size: int | None = 65536,
        save_outputs: bool = True,
    ) -> None:
        factors = [int(f) for f in factors]
        if not isinstance(keep_every, int) or keep_every < 2:
            raise InrBenchError(f"task.keep_every must be an integer >= 2, got {keep_every!r}.")
        bad = [f for f in factors if f < 1 or keep_every % f]
        if bad:
            raise InrBenchError(
                f"task.factors must divide task.keep_every={keep_every} (factor f queries every "
                f"{keep_every}/f-th sample); these do not: {bad}."
            )
        self.name, self.keep_every, self.factors = name, keep_every, factors
        self.chunk_size, self.save_outputs = chunk_size, save_outputs
        self.sample_rate: float | None = None

    def prepare(self, datamodule) -> None:
        if getattr(datamodule, "kind", None) != "audio":
            raise InrBenchError("task=audio_interp needs an audio dataset (data=bach, data=esc50, ...).")
        self.sample_rate = getattr(datamodule, "sample_rate", None)
        datamodule.keep_subgrid(axis=0, stride=self.keep_every)
        if self.sample_rate:  # the training samples' own rate, for the fit's written WAVs
            datamodule.sample_rate = self.sample_rate / self.keep_every

    def query_index(self, num_samples: int, factor: int) -> np.ndarray:
        return np.arange(0, num_samples, self.keep_every // factor)

    def run(self, module, datamodule, out_dir: Path, rho_variant: str = "reference") -> dict:
        truth = datamodule.full_values[:, 0].numpy().astype(np.float64)
        total, k = truth.shape[0], self.keep_every
        train_index = np.arange(0, total, k)
        train_values = truth[train_index]
        record = {
            "name": self.name,
            "keep_every": k,
            "samples": total,
            "training_samples": int(train_index.shape[0]),
            "sample_rate": self.sample_rate,
            "baselines": {
                "linear_interp": "np.interp of the training samples",
                "bandlimited_fft": "periodic sinc: spectrum of the training samples zero-padded",
            },
            "factors": {},
        }
        outputs = {}
        for factor in self.factors:
            index = self.query_index(total, factor)
            held_out = index % k != 0
            target = torch.from_numpy(truth[index, None]).float()
            predictions = {
                "inr": module.predict_points(
                    datamodule.full_coords[torch.from_numpy(index)], self.chunk_size
                ),
                "linear_interp": torch.from_numpy(
                    linear_interpolate(train_index, train_values, index)[:, None]
                ).float(),
                "bandlimited_fft": torch.from_numpy(
                    bandlimited_interpolate(train_values, k, index)[:, None]
                ).float(),
            }
            entry = {
                "stride": k // factor,
                "samples": int(index.shape[0]),
                "held_out_samples": int(held_out.sum()),
            }
            for key, pred in predictions.items():
                metrics = score(pred, target, (index.shape[0],), datamodule.data_range, rho_variant)
                metrics.pop("ssim", None)
                held_mse = float(torch.mean((pred[held_out].double() - target[held_out].double()) ** 2))
                entry[key] = {
                    **metrics,
                    "held_out_mse": held_mse,
                    "held_out_psnr": psnr(held_mse, datamodule.data_range),
                }
            record["factors"][str(factor)] = entry
            if k // factor == 1:
                outputs = {key: pred[:, 0].numpy() for key, pred in predictions.items()}
        if self.save_outputs and outputs:
            record["files"] = [
                str(p)
                for p in save_audio_interp_outputs(
                    truth, train_index, outputs, self.sample_rate, Path(out_dir)
                )
            ]
        return record


def save_audio_interp_outputs(truth, train_index, outputs: dict, sample_rate, out_dir: Path) -> list[Path]:
    """Full-density WAVs of each interpolator and a plot of a short stretch of the clip."""
    import matplotlib.pyplot as plt

    paths = []
    if sample_rate:
        from inr_bench.data.audio import write_wav

        paths.append(write_wav(out_dir / "audio_interp_ground_truth.wav", truth, int(sample_rate)))
        for key, values in outputs.items():
            paths.append(write_wav(out_dir / f"audio_interp_{key}.wav", values, int(sample_rate)))
    # the stretch of 256 samples (32 training samples at k = 8) with the most energy
    width = min(256, truth.shape[0])
    energy = np.convolve(truth**2, np.ones(width), mode="valid")
    start = int(np.argmax(energy))
    window = np.arange(start, start + width)
    figure, axis = plt.subplots(figsize=(12, 4))
    axis.plot(window, truth[window], color="black", lw=2, label="ground truth")
    for key, values in outputs.items():
        axis.plot(window, values[window], lw=1, label=key)
    shown = train_index[(train_index >= start) & (train_index < start + width)]
    axis.plot(shown, truth[shown], "o", color="black", ms=4, label="training samples")
    axis.set_xlabel("sample")
    axis.legend(fontsize=8)
    figure.tight_layout()
    paths.append(out_dir / "audio_interp.png")
    figure.savefig(paths[-1], dpi=100)
    plt.close(figure)
    return paths
