"""Read an audio file into a peak-normalised mono float32 signal (no Lightning, no Hydra).

`load_audio` reads anything libsndfile reads through `soundfile` (WAV with PCM or IEEE-float
samples, FLAC, OGG/Vorbis, ...), mixes the channels to mono (their mean), optionally resamples
with `librosa.resample`, crops `offset` seconds then `seconds` seconds, and divides by the peak
so that max |x| = 1 (the paper's audio targets are peak-normalised).

Every problem the user can fix raises `InrBenchError` with a message that names the file, says
what is wrong and how to fix it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from inr_bench.data.paths import describe_file_content as _describe_bad_content
from inr_bench.data.paths import require_media_file
from inr_bench.errors import InrBenchError

#: What libsndfile is expected to read; said in the "unreadable file" message.
AUDIO_FORMATS = "WAV (PCM or IEEE float), FLAC or OGG/Vorbis"

#: How to get the audio files the project knows by name (used when no `hint` is given).
KNOWN_AUDIO_HINTS = {
    "bach.wav": (
        "it is the Bach excerpt of the SIREN paper, `data/gt_bach.wav` in the SIREN repository "
        "(github.com/vsitzmann/siren); save it as bach.wav."
    ),
    "gt_bach.wav": "it is `data/gt_bach.wav` in the SIREN repository (github.com/vsitzmann/siren).",
    "arctic_a0007.wav": (
        "it is utterance a0007 of CMU ARCTIC (speaker clb, festvox.org/cmu_arctic); a copy ships "
        "in the pysptk source distribution (`pip download --no-binary :all: --no-deps pysptk`)."
    ),
}


def _check_media_file(path: str | os.PathLike, hint: str | None) -> Path:
    hint = hint if hint is not None else KNOWN_AUDIO_HINTS.get(Path(path).name)
    return require_media_file(path, "Audio", AUDIO_FORMATS, hint)


def _is_number(value) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and math.isfinite(float(value))
    )


def _validate_numbers(path, sample_rate, seconds, offset) -> None:
    where = f"Reading audio file {Path(path).expanduser().resolve()}:"
    if sample_rate is not None and not (
        _is_number(sample_rate) and sample_rate > 0 and float(sample_rate) == int(sample_rate)
    ):
        raise InrBenchError(
            f"{where} sample_rate must be a positive whole number of Hz (e.g. 16000), or None to keep "
            f"the file's rate; got {sample_rate!r}."
        )
    if seconds is not None and not (_is_number(seconds) and seconds > 0):
        raise InrBenchError(
            f"{where} seconds (length of the clip to keep) must be a positive number, or None to keep "
            f"everything after the offset; got {seconds!r}."
        )
    if not (_is_number(offset) and offset >= 0):
        raise InrBenchError(
            f"{where} offset (seconds skipped at the start) must be a number >= 0; got {offset!r}."
        )


def audio_info(path: str | os.PathLike, hint: str | None = None):
    """`soundfile.info` of the file, with the module's clear errors for missing/unreadable files."""
    import soundfile as sf

    path = _check_media_file(path, hint)
    try:
        return sf.info(str(path))
    except (sf.SoundFileError, RuntimeError) as e:
        raise InrBenchError(
            f"Audio file {path.resolve()} could not be read ({e}).{_describe_bad_content(path)} "
            f"Expected {AUDIO_FORMATS}; convert other formats first, e.g. "
            f"`ffmpeg -i input.mp3 {path.stem}.wav`, or re-download the file."
        ) from e


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    seconds: float | None = None,
    offset: float = 0.0,
    hint: str | None = None,
    remove_dc: bool = False,
) -> tuple[np.ndarray, int]:
    """Read `path` as peak-normalised mono float32 samples.

    Args:
        path: audio file ({formats}).
        sample_rate: resample to this rate (Hz) with `librosa.resample` when it differs from the
            file's; None keeps the file's rate.
        seconds: keep this many seconds after `offset` (rounded to whole samples at the output
            rate); None keeps everything after `offset`.
        offset: seconds skipped at the start (rounded to whole samples at the output rate).
        hint: how to obtain the file, shown when it is missing (defaults to a known hint for the
            project's named files, see `KNOWN_AUDIO_HINTS`).
        remove_dc: subtract the mean of the kept samples before peak normalisation (a recorder's
            DC offset would otherwise dominate the normalised signal).

    Returns:
        `(samples, sample_rate)`: a 1-D float32 array with max |x| = 1, and its rate in Hz.
        Cropping happens at the output rate, after resampling.
    """
    import soundfile as sf

    _validate_numbers(path, sample_rate, seconds, offset)
    info = audio_info(path, hint)
    path = Path(path).expanduser()
    where = path.resolve()
    if info.frames <= 0:
        raise InrBenchError(
            f"Audio file {where} holds no samples (a valid {info.format} header with 0 frames). "
            f"Replace it with a recording that has sound in it."
        )
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as e:
        raise InrBenchError(
            f"Audio file {where} could not be decoded ({e}): it is probably corrupt or truncated. "
            f"Re-download or re-export it as {AUDIO_FORMATS}."
        ) from e
    if data.shape[0] == 0:
        raise InrBenchError(
            f"Audio file {where} holds no samples (0 frames could be read). "
            f"Replace it with a recording that has sound in it."
        )
    samples = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(samples)):
        raise InrBenchError(
            f"Audio file {where} contains NaN or infinite samples: it is corrupt or was written "
            f"from a broken signal. Re-export it."
        )

    rate = int(file_rate)
    if sample_rate is not None and int(sample_rate) != rate:
        import librosa

        samples = librosa.resample(samples, orig_sr=rate, target_sr=int(sample_rate)).astype(np.float32)
        rate = int(sample_rate)

    n = samples.shape[0]
    duration = n / rate
    start = int(round(offset * rate))
    if start >= n:
        raise InrBenchError(
            f"Audio file {where} is {duration:.6g} s long ({n} samples at {rate} Hz), but offset={offset} s "
            f"starts at or after its end. The largest valid offset is {(n - 1) / rate:.6g} s."
        )
    if seconds is not None:
        count = int(round(seconds * rate))
        if count < 1:
            raise InrBenchError(
                f"Reading audio file {where}: seconds={seconds} is shorter than one sample at {rate} Hz; "
                f"ask for at least {1 / rate:.3g} s."
            )
        if start + count > n:
            raise InrBenchError(
                f"Audio file {where} is {duration:.6g} s long ({n} samples at {rate} Hz), but offset={offset} s "
                f"+ seconds={seconds} s reaches {offset + seconds:.6g} s. With offset={offset} the largest "
                f"valid seconds is {(n - start) / rate:.6g}; with seconds={seconds} the largest valid "
                f"offset is {max(n - count, 0) / rate:.6g}"
                + (" (the clip is shorter than `seconds` itself)." if count > n else ".")
            )
        samples = samples[start : start + count]
    else:
        samples = samples[start:]

    if remove_dc:
        samples = samples - samples.mean(dtype=np.float64).astype(np.float32)
    peak = float(np.max(np.abs(samples)))
    if peak == 0.0:
        span = f"{samples.shape[0] / rate:.6g} s from offset {offset} s"
        raise InrBenchError(
            f"Audio file {where} is silent in the selected part ({span}: every sample is 0), so it "
            f"cannot be peak-normalised. Choose another offset/seconds, or check that the file really "
            f"holds the recording."
        )
    samples = np.ascontiguousarray(samples / np.float32(peak), dtype=np.float32)
    return samples, rate


load_audio.__doc__ = load_audio.__doc__.format(formats=AUDIO_FORMATS)
