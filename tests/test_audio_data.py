"""AudioDataModule on the shared real clips, the presets, outputs, chunked evaluation and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra.utils import instantiate

from conftest import compose_config, module_for
from inr_bench.callbacks import EvaluationCallback
from inr_bench.data.audio import AudioDataModule
from inr_bench.errors import InrBenchError
from inr_bench.record import RunRecord
from inr_bench.train import train


@pytest.fixture
def bach(shared_data):
    return shared_data / "audio" / "bach.wav"


def _write_clip(path, samples, rate=8000, subtype="PCM_16"):
    sf.write(str(path), samples, rate, subtype=subtype)
    return path


def test_bach_crop_values_and_coordinates(bach):
    dm = AudioDataModule(name="bach", path=str(bach), offset=1.0, seconds=0.01)
    dm.setup()
    raw, rate = sf.read(str(bach), dtype="float32")
    crop = raw[44100:44541]
    assert dm.kind == "audio" and dm.sample_rate == rate == 44100
    assert dm.signal_shape == (441,) and dm.coord_dim == 1 and dm.out_features == 1
    np.testing.assert_allclose(dm.values[:, 0].numpy(), crop / np.abs(crop).max(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dm.coords[:, 0].numpy(), np.linspace(-100, 100, 441), atol=1e-4)
    assert "bach.wav" in dm.source and "44100 Hz" in dm.source


def test_pcm_speech_resampled(shared_data):
    dm = AudioDataModule(
        name="a", path=str(shared_data / "audio" / "arctic_a0007.wav"), sample_rate=8000, seconds=0.1
    )
    dm.setup()
    assert dm.sample_rate == 8000 and dm.signal_shape == (800,)
    assert float(dm.values.abs().max()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "suffix, subtype", [(".wav", "FLOAT"), (".wav", "PCM_24"), (".flac", "PCM_16"), (".ogg", "VORBIS")]
)
def test_formats_stereo_mixed_to_mono(tmp_path, bach, suffix, subtype):
    left = sf.read(str(bach), frames=4000, dtype="float32")[0]
    stereo = np.stack([left, 0.5 * left[::-1]], axis=1) * (
        0.9 if subtype != "FLOAT" else 3.0
    )  # float WAV: beyond 1
    path = _write_clip(tmp_path / f"clip{suffix}", stereo, rate=16000, subtype=subtype)
    assert sf.info(str(path)).subtype == subtype
    dm = AudioDataModule(name="audio_file", path=str(path))
    dm.setup()
    assert dm.signal_shape == (4000,) and dm.sample_rate == 16000
    assert float(dm.values.abs().max()) == pytest.approx(1.0)
    if subtype == "FLOAT":  # lossless: exactly the peak-normalised mean of the channels
        mono = stereo.mean(axis=1)
        np.testing.assert_allclose(dm.values[:, 0].numpy(), mono / np.abs(mono).max(), rtol=1e-5, atol=1e-6)


def test_esc50_layout_and_index(tmp_path, monkeypatch, bach):
    folder = tmp_path / "ESC-50" / "audio"
    folder.mkdir(parents=True)
    clip = sf.read(str(bach), frames=2000, dtype="float32")[0]
    for number, name in enumerate(["1-100038-A-14.wav", "1-100032-A-0.wav", "notes.txt"]):
        (folder / name).write_bytes(b"text") if name.endswith(".txt") else _write_clip(
            folder / name, clip * (number + 1) / 4
        )
    monkeypatch.setenv("INR_BENCH_DATA", str(tmp_path))
    dm = instantiate(compose_config(tmp_path / "run", ["data=esc50", "data.index=1"]).data)
    dm.setup()
    assert dm.source.startswith(str(folder / "1-100038-A-14.wav")) and dm.signal_shape == (2000,)
    with pytest.raises(InrBenchError, match=r"holds 2 audio file\(s\); use data.index between 0 and 1"):
        AudioDataModule(name="esc50", path=str(folder), index=2).setup()


def test_presets_compose(tmp_path):
    cfg = compose_config(tmp_path, ["experiment=paper_audio", "data=bach"])
    assert cfg.data.name == "bach" and cfg.data.coord_scale == 100
    assert cfg.model.net.activation.damping == "arctan" and cfg.model.optimizer.lr == 5e-5
    assert list(cfg.eval_steps) == [25, 100, 500, 1000] and cfg.trainer.max_steps == 1000
    assert compose_config(tmp_path, ["experiment=paper_audio"]).data.name == "esc50"
    siren = compose_config(tmp_path, ["model=siren", "experiment=paper_audio", "data=bach"])
    assert siren.model.net.activation.damping == "one" and siren.model.optimizer.lr == 5e-5


def test_save_outputs_float_wavs_and_picture(tmp_path, bach):
    dm = AudioDataModule(name="bach", path=str(bach), offset=1.0, seconds=0.02)
    dm.setup()
    pred = dm.values * 1.5  # a reconstruction may overshoot [-1, 1]: float WAV keeps it
    written = dm.save_outputs(pred, tmp_path)
    assert {p.name for p in written} == {"ground_truth.wav", "reconstruction.wav", "waveforms_spectra.png"}
    for name, expected in (("ground_truth.wav", dm.values), ("reconstruction.wav", pred)):
        samples, rate = sf.read(str(tmp_path / name), dtype="float32")
        assert rate == 44100 and sf.info(str(tmp_path / name)).subtype == "FLOAT"
        np.testing.assert_array_equal(samples, expected[:, 0].numpy())
    assert (tmp_path / "waveforms_spectra.png").stat().st_size > 10_000


def test_chunked_evaluation_equals_unchunked(bach, tmp_path):
    dm = AudioDataModule(name="bach", path=str(bach), offset=1.0, seconds=0.02)
    dm.setup()
    torch.manual_seed(0)
    module = module_for(
        dm,
        "delta=arctan",
        "model.net.activation.fused=false",
        "model.net.width=32",
        "model.net.hidden_layers=2",
    )
    whole = EvaluationCallback(RunRecord(), [1], eval_chunk_size=None).evaluate(module, dm)
    chunked = EvaluationCallback(RunRecord(), [1], eval_chunk_size=100).evaluate(module, dm)
    torch.testing.assert_close(chunked[1], whole[1], rtol=0, atol=1e-6)
    assert chunked[0]["ssim"] is None and whole[0]["ssim"] is None
    for key in ("loss", "psnr", "rho_ag"):
        assert chunked[0][key] == pytest.approx(whole[0][key], rel=1e-5)


def test_fit_short_crop_end_to_end(make_config, tmp_path, shared_data):
    cfg = make_config(
        "experiment=paper_audio",
        "data=bach",
        "data.seconds=0.05",
        "data.chunk_size=1000",
        "model.net.width=64",
        "trainer.max_steps=6",
        "eval_steps=[2]",
        "++model.net.activation.fused=false",  # eager: no kernel compilation in a short test
    )
    result = train(cfg)
    run = tmp_path / "run"
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["data"] == "bach" and on_disk["delta"] == "arctan"
    assert [e["step"] for e in on_disk["evals"]] == [2, 6] and on_disk["evals"] == result["evals"]
    assert on_disk["final"]["ssim"] is None and isinstance(on_disk["final"]["rho_ag"], float)
    assert on_disk["final"]["loss"] < on_disk["evals"][0]["loss"]
    assert on_disk["info"]["signal_kind"] == "audio" and on_disk["info"]["signal_shape"] == [2205]
    for name in ("ground_truth.wav", "reconstruction.wav", "waveforms_spectra.png", "loss_curve.png"):
        assert (run / name).is_file(), name
    assert sf.info(str(run / "reconstruction.wav")).frames == 2205


# --------------------------------------------------------------------------- errors


def test_missing_bach_names_file_variable_and_source(tmp_path, monkeypatch):
    monkeypatch.setenv("INR_BENCH_DATA", str(tmp_path / "nowhere"))
    dm = instantiate(compose_config(tmp_path / "run", ["data=bach"]).data)
    with pytest.raises(InrBenchError) as info:
        dm.setup()
    message = str(info.value)
    assert "bach.wav" in message and "INR_BENCH_DATA" in message and "siren" in message.lower()


def test_missing_esc50_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("INR_BENCH_DATA", str(tmp_path))
    dm = instantiate(compose_config(tmp_path / "run", ["data=esc50"]).data)
    with pytest.raises(InrBenchError) as info:
        dm.setup()
    message = str(info.value)
    assert str(tmp_path / "ESC-50" / "audio") in message and "github.com/karolpiczak/ESC-50" in message


def test_unreadable_empty_and_silent_files(tmp_path):
    cases = {
        "page.wav": (b"<!DOCTYPE html><html>Not found</html>", r"could not be read.*HTML"),
        "zero.wav": (b"", r"empty \(0 bytes\)"),
    }
    for name, (content, pattern) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InrBenchError, match=pattern) as info:
            AudioDataModule(name="audio_file", path=str(tmp_path / name)).setup()
        assert name in str(info.value)
    _write_clip(tmp_path / "no_frames.wav", np.zeros(0, dtype=np.float32))
    with pytest.raises(InrBenchError, match=r"no_frames.wav holds no samples"):
        AudioDataModule(name="audio_file", path=str(tmp_path / "no_frames.wav")).setup()
    _write_clip(tmp_path / "silence.flac", np.zeros(800, dtype=np.float32))
    with pytest.raises(InrBenchError, match=r"silence.flac is silent.*another offset/seconds"):
        AudioDataModule(name="audio_file", path=str(tmp_path / "silence.flac")).setup()


def test_crop_past_the_end_names_the_valid_range(bach):
    with pytest.raises(InrBenchError, match=r"bach.wav is 6.98.* s long.*largest valid seconds"):
        AudioDataModule(name="bach", path=str(bach), offset=6.0, seconds=2.0).setup()
