"""Audio: one clip from a file (bach.wav, any WAV/FLAC/OGG) or from a folder (ESC-50).

The signal is the clip as `load_audio` returns it (mono mix, optional resampling, `offset` then
`seconds` cropped, peak-normalised to max |x| = 1), shaped (T, 1). Coordinates are
`linspace(-1, 1, T) * coord_scale`; the paper (A.9.5), following SIREN, uses 100.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inr_bench.data.audio_io import load_audio
from inr_bench.data.base import CoordinateDataModule
from inr_bench.data.paths import list_files
from inr_bench.errors import InrBenchError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga")


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """32-bit float WAV: a reconstruction's values are kept as they are, overshoot included."""
    import soundfile as sf

    sf.write(str(path), np.asarray(samples, dtype=np.float32).reshape(-1), int(sample_rate), subtype="FLOAT")
    return path


class AudioDataModule(CoordinateDataModule):
    """One audio clip. `path` is an audio file, or a folder in which `index` picks a file in
    sorted name order (ESC-50's `audio/` folder). `sample_rate` resamples (None keeps the
    file's rate); `offset` and `seconds` crop, in seconds; `remove_dc` subtracts the crop's mean
    before peak normalisation (field recorders often add a DC offset)."""

    kind = "audio"

    def __init__(
        self,
        name: str,
        path: str,
        index: int = 0,
        sample_rate: int | None = None,
        seconds: float | None = None,
        offset: float = 0.0,
        download_hint: str | None = None,
        chunk_size: int | None = None,
        coord_scale: float = 100.0,
        remove_dc: bool = False,
    ) -> None:
        super().__init__(name=name, chunk_size=chunk_size, coord_scale=coord_scale)
        self.remove_dc = remove_dc
        if path is None:
            raise InrBenchError(f"data={name}: data.path must name an audio file or a folder of audio files.")
        self.path, self.index = str(path), index
        self.sample_rate_asked, self.seconds, self.offset = sample_rate, seconds, offset
        self.download_hint = download_hint
        self.sample_rate: int | None = None  # the signal's rate (Hz), known after setup()
        self.file: Path | None = None
        self.source: str | None = None

    def _pick_file(self) -> Path:
        path = Path(self.path).expanduser()
        if path.is_file() or (not path.is_dir() and path.suffix.lower() in AUDIO_SUFFIXES):
            return path  # load_audio says clearly if it is missing or unreadable
        files = list_files(path, AUDIO_SUFFIXES, self.download_hint)
        if (
            isinstance(self.index, bool)
            or not isinstance(self.index, int)
            or not 0 <= self.index < len(files)
        ):
            raise InrBenchError(
                f"data.index={self.index!r}, but {path.resolve()} holds {len(files)} audio file(s); "
                f"use data.index between 0 and {len(files) - 1}."
            )
        return files[self.index]

    def load_signal(self) -> np.ndarray:
        self.file = self._pick_file()
        samples, rate = load_audio(
            self.file, self.sample_rate_asked, self.seconds, self.offset, self.download_hint, self.remove_dc
        )
        self.sample_rate = rate
        self.source = f"{self.file} ({rate} Hz, {samples.shape[0]} samples from {self.offset:g} s)"
        return samples[:, None]

    def save_outputs(
        self, pred_values: torch.Tensor, out_dir: Path, metrics: dict | None = None
    ) -> list[Path]:
        from inr_bench.visualize import audio_caption, save_audio_comparison

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        truth = self.signal_array(self.values)[:, 0]
        pred = self.signal_array(pred_values)[:, 0]
        return [
            write_wav(out_dir / "ground_truth.wav", truth, self.sample_rate),
            write_wav(out_dir / "reconstruction.wav", pred, self.sample_rate),
            save_audio_comparison(
                truth,
                {audio_caption("reconstruction", metrics): pred},
                self.sample_rate,
                out_dir / "waveforms_spectra.png",
            ),
        ]
