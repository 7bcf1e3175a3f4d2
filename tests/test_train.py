"""End-to-end fits through train(cfg) and through the command line."""

import json
import os
import subprocess
import sys

import pytest

from inr_bench.train import train


def test_fit_real_div2k_crop_loss_falls(make_config, shared_data, tmp_path):
    cfg = make_config(
        "data=div2k", "data.size=32", "data.index=2", "trainer.max_steps=30", "eval_steps=[1,10]"
    )
    result = train(cfg)
    assert result["status"] == "ok" and result["model"] == "spder" and result["delta"] == "sqrt"
    steps = [entry["step"] for entry in result["evals"]]
    assert steps == [1, 10, 30]
    losses = [entry["loss"] for entry in result["evals"]]
    assert losses[2] < losses[1] < losses[0]
    assert losses[2] < 0.1 * losses[0]
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["evals"] == result["evals"]
    for key in ("loss", "psnr", "ssim", "rho_ag"):
        assert isinstance(on_disk["final"][key], float)
    assert on_disk["best"]["loss"] <= losses[2] and on_disk["best"]["loss_step"] <= 30
    for name in ("ground_truth.png", "reconstruction.png", "comparison.png", "loss_curve.png", "config.yaml"):
        assert (tmp_path / "run" / name).is_file(), name
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_siren_record_has_no_delta(make_config):
    result = train(make_config("model=siren", "data.size=16", "trainer.max_steps=2", "save_outputs=false"))
    assert result["model"] == "siren" and result["delta"] is None


@pytest.mark.slow
def test_command_line_default_run(tmp_path):
    run_dir = tmp_path / "cli"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "inr_bench.train",
            "trainer.max_steps=3",
            "data.size=16",
            f"hydra.run.dir={run_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["data"] == "camera" and metrics["evals"][-1]["step"] == 3


@pytest.mark.slow
def test_missing_dataset_folder_message_and_exit_code(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "inr_bench.train", "data=div2k", f"hydra.run.dir={tmp_path / 'x'}"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "INR_BENCH_DATA": str(tmp_path / "no_data")},
    )
    assert proc.returncode == 2
    assert "div2k" in proc.stderr and "INR_BENCH_DATA" in proc.stderr and "DIV2K" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("override", ["trainer.max_steps=0", "data.size=-4"])
def test_nonsense_numbers_are_clear_errors(make_config, override):
    from inr_bench.errors import InrBenchError

    with pytest.raises(InrBenchError):
        train(make_config(override))
