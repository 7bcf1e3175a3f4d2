"""load_audio on the shared real recordings, and its errors on real-looking bad files."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from inr_bench.data.audio_io import load_audio
from inr_bench.errors import InrBenchError

REPO_ROOT = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    root = Path(os.environ.get("INR_BENCH_DATA", "../shared/data")).expanduser()
    return root if root.is_absolute() else (REPO_ROOT / root)


@pytest.fixture(scope="module")
def audio_dir() -> Path:
    folder = _data_root() / "audio"
    if not ((folder / "bach.wav").is_file() and (folder / "arctic_a0007.wav").is_file()):
        pytest.skip(
            f"shared audio files not found in {folder}: set INR_BENCH_DATA to the shared data folder "
            f"(the one holding audio/bach.wav and audio/arctic_a0007.wav)"
        )
    return folder


@pytest.fixture(scope="module")
def bach(audio_dir) -> Path:
    return audio_dir / "bach.wav"


@pytest.fixture(scope="module")
def arctic(audio_dir) -> Path:
    return audio_dir / "arctic_a0007.wav"


def _raise(match_path: Path, **kwargs) -> str:
    """Call load_audio, expect an InrBenchError that names the file; return the message."""
    with pytest.raises(InrBenchError) as info:
        load_audio(match_path, **kwargs)
    message = str(info.value)
    assert str(Path(match_path).resolve()) in message, message
    return message


# ----------------------------------------------------------------------------- reading real files


def test_bach_is_float_wav_read_whole(bach):
    samples, rate = load_audio(bach)
    raw, raw_rate = sf.read(bach, dtype="float32")
    assert sf.info(bach).subtype == "FLOAT"
    assert rate == raw_rate == 44100
    assert samples.dtype == np.float32 and samples.ndim == 1 and samples.shape == (308207,)
    assert np.max(np.abs(samples)) == 1.0
    np.testing.assert_allclose(samples, raw / np.max(np.abs(raw)), rtol=0, atol=1e-7)


def test_arctic_is_pcm16_at_16k(arctic):
    samples, rate = load_audio(arctic)
    raw, raw_rate = sf.read(arctic, dtype="float32")
    assert sf.info(arctic).subtype == "PCM_16"
    assert rate == raw_rate == 16000
    assert samples.shape == (raw.shape[0],) and samples.shape[0] == 64000
    assert np.max(np.abs(samples)) == 1.0
    np.testing.assert_allclose(samples, raw / np.max(np.abs(raw)), rtol=0, atol=1e-7)


@pytest.mark.parametrize("offset, seconds", [(0.5, 1.25), (0.0, 2.0), (6.0, None), (1.0 / 3.0, 0.01)])
def test_crop_matches_soundfile(bach, offset, seconds):
    raw, rate = sf.read(bach, dtype="float32")
    start = round(offset * rate)
    stop = raw.shape[0] if seconds is None else start + round(seconds * rate)
    expected = raw[start:stop] / np.max(np.abs(raw[start:stop]))
    samples, got_rate = load_audio(bach, seconds=seconds, offset=offset)
    assert got_rate == rate
    assert samples.shape == expected.shape
    assert np.max(np.abs(samples)) == 1.0
    np.testing.assert_allclose(samples, expected, rtol=0, atol=1e-7)


def test_crop_up_to_the_last_sample_is_allowed(arctic):
    samples, _ = load_audio(arctic, offset=3.5, seconds=0.5)  # exactly the clip's 4.0 s
    assert samples.shape == (8000,)


def test_resampling_length_and_rate(bach, arctic):
    samples, rate = load_audio(bach, sample_rate=16000)
    assert rate == 16000
    assert samples.shape == (math.ceil(308207 * 16000 / 44100),)
    assert np.max(np.abs(samples)) == 1.0 and samples.dtype == np.float32

    down, rate = load_audio(arctic, sample_rate=8000)
    assert (rate, down.shape) == (8000, (32000,))
    same, rate = load_audio(arctic, sample_rate=16000)  # the file's own rate: untouched
    np.testing.assert_array_equal(same, load_audio(arctic)[0])


def test_crop_happens_at_the_output_rate(arctic):
    samples, rate = load_audio(arctic, sample_rate=8000, offset=0.5, seconds=1.0)
    full, _ = load_audio(arctic, sample_rate=8000)
    assert (rate, samples.shape) == (8000, (8000,))
    part = full[4000:12000]
    np.testing.assert_allclose(samples, part / np.max(np.abs(part)), rtol=0, atol=1e-6)


def test_flac_round_trip_is_lossless(arctic, tmp_path):
    raw, rate = sf.read(arctic, dtype="int16")
    flac = tmp_path / "arctic.flac"
    sf.write(flac, raw, rate, format="FLAC", subtype="PCM_16")
    from_flac, flac_rate = load_audio(flac)
    from_wav, _ = load_audio(arctic)
    assert flac_rate == rate
    np.testing.assert_array_equal(from_flac, from_wav)


def test_ogg_round_trip_is_close(bach, tmp_path):
    raw, rate = sf.read(bach, dtype="float32", frames=2 * 44100)
    ogg = tmp_path / "bach.ogg"
    sf.write(ogg, raw, rate, format="OGG", subtype="VORBIS")
    samples, ogg_rate = load_audio(ogg)
    assert ogg_rate == rate and np.max(np.abs(samples)) == 1.0
    assert abs(samples.shape[0] - raw.shape[0]) <= 2048  # Vorbis may pad the last block
    n = min(samples.shape[0], raw.shape[0])
    reference = raw[:n] / np.max(np.abs(raw))
    correlation = np.corrcoef(samples[:n], reference)[0, 1]
    assert correlation > 0.99


def test_stereo_is_mixed_to_mono(arctic, tmp_path):
    mono, rate = sf.read(arctic, dtype="float32")
    stereo = np.stack([mono, 0.5 * mono[::-1]], axis=1)
    path = tmp_path / "stereo.flac"
    sf.write(path, stereo, rate, subtype="PCM_24")
    samples, _ = load_audio(path)
    stored = sf.read(path, dtype="float32")[0]
    mixed = stored.mean(axis=1)
    np.testing.assert_allclose(samples, mixed / np.max(np.abs(mixed)), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- errors


def test_missing_file_says_where_and_how_to_get_it(tmp_path):
    message = _raise(tmp_path / "bach.wav")
    assert "does not exist" in message and "SIREN" in message  # known file: built-in hint
    message = _raise(tmp_path / "clip.wav", hint="download it from example.org")
    assert "download it from example.org" in message


def test_zero_byte_wav(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert "empty (0 bytes)" in _raise(path)


def test_wav_header_without_samples(tmp_path):
    path = tmp_path / "no_samples.wav"
    sf.write(path, np.zeros(0, dtype=np.int16), 16000, subtype="PCM_16")
    assert "holds no samples" in _raise(path)


def test_html_page_saved_as_wav(tmp_path):
    path = tmp_path / "bach.wav"
    path.write_text(
        "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
        "<body><h1>Not Found</h1><p>The requested URL was not found.</p></body></html>\n"
    )
    message = _raise(path)
    assert "could not be read" in message and "HTML" in message and "WAV" in message and "FLAC" in message


def test_corrupt_wav_bytes(arctic, tmp_path):
    path = tmp_path / "garbled.wav"
    data = bytearray(arctic.read_bytes())
    data[:12] = b"\x00" * 12  # RIFF header destroyed
    path.write_bytes(bytes(data))
    assert "could not be read" in _raise(path)


def test_all_zeros_wav(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(16000, dtype=np.int16), 16000, subtype="PCM_16")
    assert "silent" in _raise(path) and "peak-normalise" in _raise(path)


def test_silent_selection_of_a_real_recording(arctic, tmp_path):
    raw, rate = sf.read(arctic, dtype="int16")
    path = tmp_path / "padded.wav"
    sf.write(path, np.concatenate([np.zeros(rate, dtype=np.int16), raw]), rate, subtype="PCM_16")
    assert "silent" in _raise(path, seconds=0.5)
    assert load_audio(path, offset=1.0, seconds=0.5)[0].shape == (8000,)


def test_nan_samples(tmp_path):
    path = tmp_path / "nan.wav"
    data = np.sin(np.linspace(0, 100, 8000)).astype(np.float32)
    data[100] = np.nan
    sf.write(path, data, 8000, subtype="FLOAT")
    assert "NaN" in _raise(path)


def test_shorter_than_asked_gives_length_and_largest_values(bach):
    message = _raise(bach, offset=3.0, seconds=5.0)
    assert "6.98882 s long" in message and "308207 samples at 44100 Hz" in message
    assert "largest valid seconds is 3.98882" in message
    assert "largest valid offset is 1.98882" in message


def test_offset_past_the_end(arctic):
    message = _raise(arctic, offset=4.0)
    assert "4 s long" in message and "largest valid offset is 3.99994" in message


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"seconds": 0}, "seconds"),
        ({"seconds": -1.0}, "seconds"),
        ({"seconds": float("nan")}, "seconds"),
        ({"offset": -0.1}, "offset"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"sample_rate": -16000}, "sample_rate"),
        ({"sample_rate": 22050.5}, "sample_rate"),
        ({"seconds": 1e-6}, "shorter than one sample"),
    ],
)
def test_nonsensical_numbers(arctic, kwargs, word):
    assert word in _raise(arctic, **kwargs)


def test_folder_instead_of_file(audio_dir):
    assert "is a folder" in _raise(audio_dir)
