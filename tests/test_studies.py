"""The studies beyond the paper: `first_w0=auto`, audio DC removal, and the summaries of the
recipe study and the super-resolution ablation, each against cases whose answer is known."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from inr_bench.data.audio_io import load_audio
from inr_bench.nn.build import auto_first_w0, build_network
from inr_bench.tables import recipes, superres_ablation


@pytest.mark.parametrize(
    ("shape", "scale", "in_features", "expected"),
    [
        ((257, 257), 1.0, 2, 32.0),  # the paper's image grid (+1): (n - 1) / 8
        ((65, 33), 1.0, 2, 4.0),  # the fewer samples decide: (33 - 1) / 8
        ((1601,), 100.0, 1, 1.0),  # audio on [-100, 100]: Nyquist pi*1600/200 = 8 pi, / (8 pi)
    ],
)
def test_auto_first_w0_is_an_eighth_of_the_grids_nyquist_frequency_per_input(
    shape, scale, in_features, expected
):
    assert auto_first_w0(shape, scale, in_features) == pytest.approx(expected, rel=1e-12)


def test_first_w0_auto_reaches_the_built_network_and_needs_a_grid():
    from inr_bench.config import compose_config
    from inr_bench.errors import InrBenchError

    model = compose_config(["model=spder", "model.net.first_w0=auto", "model.net.width=8"]).model
    net = build_network(model, 2, 1, signal_shape=(65, 65), coord_scale=1.0)
    assert [act.w0 for act in net.activations][:2] == [8.0, 30.0]
    with pytest.raises(InrBenchError, match="first_w0=auto needs the signal's grid"):
        build_network(model, 2, 1)


def test_remove_dc_subtracts_the_mean_before_peak_normalisation(tmp_path):
    sf = pytest.importorskip("soundfile")
    rate = 8000
    t = np.arange(rate) / rate
    sound = 0.05 * np.sin(2 * np.pi * 440 * t) + 0.02 * np.sin(2 * np.pi * 97 * t)
    path = tmp_path / "offset.wav"
    sf.write(path, (0.4 + sound).astype(np.float32), rate, subtype="FLOAT")

    kept, _ = load_audio(path)
    removed, _ = load_audio(path, remove_dc=True)
    centred = sound - sound.mean()
    np.testing.assert_allclose(removed, centred / np.abs(centred).max(), atol=1e-5)
    # without it the offset dominates: the normalised clip sits near 1 with the sound on top
    assert kept.mean() > 0.8 and kept.std() < 0.1


def _record(loss_curve, final_psnr, *, restored=False, best_loss=None):
    return {
        "status": "ok",
        "loss_curve": loss_curve,
        "info": {"data_range": 2.0},
        "final": {"psnr": final_psnr, "step": loss_curve[-1][0], "restored_best": restored},
        "best": {"loss": best_loss} if best_loss else {},
    }


def test_recipe_summary_finds_the_first_step_at_the_target_and_the_spike_after():
    curve = [[1, 1e-3], [100, 5e-8], [150, 6.7e-7], [200, 1e-8]]
    summary = recipes.fit_summary(_record(curve, 80.0, best_loss=1e-8), target=6.7e-8)
    assert summary["reached_step"] == 100
    assert summary["spike_db"] == pytest.approx(10.0)  # 6.7e-7 is ten times the target
    assert summary["best_psnr"] == pytest.approx(10 * math.log10(4 / 1e-8))
    never = recipes.fit_summary(_record([[1, 1e-3], [2, 1e-4]], 40.0), target=6.7e-8)
    assert never["reached_step"] is None and never["spike_db"] is None


def _ablation_result(root, column, signal, *, base, first_w0, psnr_2x, bicubic_2x):
    path = root / f"first_{first_w0}" / "results" / column / f"{signal}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "status": "ok",
        "data": "div2k",
        "label": column.upper(),
        "info": {"table_order": 1},
        "final": {"psnr": 50.0},
        "table": {"settings": {"model": {"net": {"first_w0": first_w0, "activation": {"w0": 30.0}}}}},
        "task": {
            "base_size": [base, base],
            "factors": {
                "2": {"inr": {"psnr": psnr_2x}, "bicubic_from_base": {"psnr": bicubic_2x}},
            },
        },
    }
    path.write_text(json.dumps(record))


def test_superres_ablation_averages_signals_per_w0_and_resolves_auto(tmp_path):
    for signal, (inr, bicubic) in {"a": (30.0, 29.0), "b": (34.0, 31.0)}.items():
        _ablation_result(tmp_path, "spder", signal, base=65, first_w0="auto", psnr_2x=inr, bicubic_2x=bicubic)
        _ablation_result(
            tmp_path, "spder", signal, base=65, first_w0=None, psnr_2x=inr - 5, bicubic_2x=bicubic
        )
    rows = superres_ablation.summarise(superres_ablation.collect(tmp_path))
    by_w0 = {row["first_w0"]: row for row in rows}
    assert set(by_w0) == {8.0, 30.0}  # auto at 65 pixels is (65 - 1) / 8; null keeps the hidden 30
    assert by_w0[8.0]["first_auto"] and not by_w0[30.0]["first_auto"]
    assert by_w0[8.0]["psnr"] == pytest.approx(32.0) and by_w0[8.0]["bicubic"] == pytest.approx(30.0)
    assert by_w0[8.0]["minus_bicubic"] == pytest.approx(2.0) and by_w0[8.0]["n"] == 2
    assert by_w0[30.0]["minus_bicubic"] == pytest.approx(-3.0)
    table = superres_ablation.write(tmp_path)
    assert "+2.00" in table.read_text() and (tmp_path / "ablation.png").stat().st_size > 1000


@pytest.mark.parametrize("interpolation", [False, True])
def test_audio_figure_shows_the_right_wavs_with_their_own_scores(tmp_path, monkeypatch, interpolation):
    """Each curve is the WAV of its column and mode (the fit of the training samples, or the
    full-density prediction with linear interpolation beside), captioned with that WAV's scores."""
    import soundfile as sf

    from inr_bench.tables import audio_figure

    rate = 800
    wavs = {}  # file name -> its distinct constant level, to tell them apart
    for i, column in enumerate(["spder", "siren"]):
        run = tmp_path / "runs" / column / "clip"
        run.mkdir(parents=True)
        for j, name in enumerate(
            ["ground_truth", "reconstruction", "audio_interp_ground_truth", "audio_interp_inr"]
            + ["audio_interp_linear_interp"]
        ):
            level = round(0.1 * (i + 1) + 0.01 * j, 2)
            sf.write(str(run / f"{name}.wav"), np.full(64, level, np.float32), rate, subtype="FLOAT")
            wavs[(column, name)] = float(np.float32(level))
        factors = {
            str(k): {
                key: {
                    "mse": 1e-3 * k + i,
                    "psnr": 30.0 + k + 10 * i + (key == "linear_interp"),
                    "rho_ag": 0.9,
                }
                for key in ("inr", "linear_interp")
            }
            for k in (2, 4, 8)
        }
        result = {"label": column.upper(), "final": {"loss": 1e-5, "psnr": 50.0 + i, "rho_ag": 0.99}}
        result["task"] = {"factors": factors}
        (tmp_path / "results" / column).mkdir(parents=True)
        (tmp_path / "results" / column / "clip.json").write_text(json.dumps(result))

    seen = {}
    monkeypatch.setattr(
        audio_figure,
        "save_audio_comparison",
        lambda truth, recs, sample_rate, out, title: seen.update(truth=truth, recs=recs, rate=sample_rate),
    )
    audio_figure.write(tmp_path, "clip", ["spder", "siren"], tmp_path / "f.png", interpolation)
    levels = {caption: float(values[0]) for caption, values in seen["recs"].items()}
    assert seen["rate"] == rate
    if not interpolation:
        assert float(seen["truth"][0]) == wavs[("spder", "ground_truth")]
        assert levels == {
            "SPDER: MSE 1e-05, PSNR 50.00 dB, rho_AG 0.9900": wavs[("spder", "reconstruction")],
            "SIREN: MSE 1e-05, PSNR 51.00 dB, rho_AG 0.9900": wavs[("siren", "reconstruction")],
        }
    else:  # the scores at the largest factor (8x: the clip's own density)
        assert float(seen["truth"][0]) == wavs[("spder", "audio_interp_ground_truth")]
        assert levels == {
            "SPDER: MSE 0.008, PSNR 38.00 dB, rho_AG 0.9000": wavs[("spder", "audio_interp_inr")],
            "SIREN: MSE 1.01, PSNR 48.00 dB, rho_AG 0.9000": wavs[("siren", "audio_interp_inr")],
            "linear interpolation: MSE 0.008, PSNR 39.00 dB, rho_AG 0.9000": wavs[
                ("spder", "audio_interp_linear_interp")
            ],
        }
