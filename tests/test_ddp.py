"""A real 2-process DDP fit on CPU (gloo), through the command line as a user runs it, against
the same fit in one process: the loss curves agree to float32 rounding and the metrics are
those of the whole signal."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from inr_bench.train import train

# Eager activations: no kernel compilation in each process (the fused path is tested elsewhere).
QUIET = ["~callbacks.progress_bar", "+trainer.enable_progress_bar=false"]
QUIET += ["data.size=16", "trainer.max_steps=6", "eval_steps=[3]", "++model.net.activation.fused=false"]


def loss_curve(run_dir) -> list[tuple[int, float]]:
    with (run_dir / "loss_curve.csv").open() as stream:
        return [(int(row["step"]), float(row["loss"])) for row in csv.DictReader(stream)]


@pytest.mark.slow
def test_two_process_ddp_equals_one_process_fit(tmp_path, make_config):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    # DDP with chunks (each process holds 128 of 256 points, in chunks of 50) exercises the
    # gradient sync of the last chunk only; the reference fits all points at once, in this
    # process while the DDP run goes on.
    command = [sys.executable, "-m", "inr_bench.train", *QUIET, "trainer=ddp", "data.chunk_size=50"]
    command += [f"hydra.run.dir={tmp_path / 'ddp'}"]
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        train(make_config(*QUIET[2:], subdir="single"))
    finally:
        output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output[-4000:]
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    # The second process ran in the same folder and wrote nothing of its own but its log.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ddp", "single"]
    assert (ddp / "train_ddp_process_1.log").is_file()

    ddp_curve, single_curve = loss_curve(ddp), loss_curve(single)
    assert [step for step, _ in ddp_curve] == [step for step, _ in single_curve] == list(range(6))
    for (_, a), (_, b) in zip(ddp_curve, single_curve, strict=True):
        assert a == pytest.approx(b, rel=1e-5)
    assert ddp_curve[-1][1] < 0.5 * ddp_curve[0][1]

    ddp_metrics, single_metrics = (json.loads((run / "metrics.json").read_text()) for run in (ddp, single))
    assert ddp_metrics["status"] == "ok" and ddp_metrics["info"]["signal_shape"] == [16, 16]
    assert [entry["step"] for entry in ddp_metrics["evals"]] == [3, 6]
    for key in ("loss", "psnr", "ssim", "rho_ag"):  # full-signal metrics, not one process's half
        assert ddp_metrics["final"][key] == pytest.approx(single_metrics["final"][key], rel=1e-4), key
    assert (ddp / "reconstruction.png").is_file() and (ddp / "checkpoints" / "last.ckpt").is_file()
