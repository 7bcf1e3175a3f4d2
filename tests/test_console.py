"""What a user reads on the console: the progress bar (also after a resume), the table at the
end of a run (and the same text in train.log), and the messages for the commonest mistakes."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

ENV = {
    **{k: v for k, v in os.environ.items() if k not in ("WANDB_SILENT",)},
    "OMP_NUM_THREADS": "1",
    "INR_BENCH_FUSED": "0",
    "PYTHONUNBUFFERED": "1",
    "COLUMNS": "200",  # one line for the bar and its metrics
}
TINY = ["data.size=16", "model.net.width=32", "save_outputs=false"]


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inr_bench.train", *argv], capture_output=True, text=True, timeout=300, env=ENV
    )


def bar_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith("fitting")]
    assert lines, stdout
    return lines[-1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = tmp_path_factory.mktemp("console") / "run"
    proc = cli(
        *TINY,
        "trainer.max_steps=6",
        "eval_steps=[3]",
        "callbacks.checkpoint.every_n_train_steps=3",
        f"hydra.run.dir={run}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return run, proc


def test_the_bar_counts_steps_of_max_steps_with_the_loss_and_psnr(finished):
    _, proc = finished
    bar = bar_line(proc.stdout)
    assert re.search(r"\b6/6\b", bar), bar
    assert re.search(r"loss: \d\.\d{3}e[-+]\d\d", bar), bar  # scientific notation, never 0.000
    assert re.search(r"PSNR: \d+\.\d\d dB @ step 6", bar), bar
    for meaningless in ("Epoch", "v_num", "-2"):
        assert meaningless not in bar, bar


def test_the_end_of_a_run_is_a_table_on_the_console_and_in_train_log(finished):
    run, proc = finished
    metrics = __import__("json").loads((run / "metrics.json").read_text())
    for text in (proc.stdout, (run / "train.log").read_text()):
        assert "SPDER on camera" in text
        final = next(line for line in text.splitlines() if "│ final" in line)
        assert f"{metrics['final']['loss']:.3e}" in final and f"{metrics['final']['psnr']:.2f}" in final
        lowest = next(line for line in text.splitlines() if "│ lowest loss" in line)
        assert f"│ {metrics['best']['loss_step']:>4} │" in lowest
        assert f"run folder: {run}" in text


def test_a_resumed_run_counts_on_from_its_checkpoint(finished):
    run, _ = finished
    proc = cli(*TINY, "trainer.max_steps=9", "eval_steps=[3]", f"hydra.run.dir={run}", "resume=last")
    assert proc.returncode == 0, proc.stderr[-2000:]
    bar = bar_line(proc.stdout)
    assert re.search(r"\b9/9\b", bar) and "Epoch" not in bar, bar
    assert re.search(r"PSNR: \d+\.\d\d dB @ step 9", bar), bar


def test_a_task_prints_its_results_beside_the_baselines(tmp_path):
    proc = cli(
        *TINY, "trainer.max_steps=2", "task=superres", "task.factors=[2]", f"hydra.run.dir={tmp_path / 'sr'}"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("│ 2x"))
    import json

    factor = json.loads((tmp_path / "sr" / "metrics.json").read_text())["task"]["factors"]["2"]
    assert f"{factor['inr']['psnr']:.2f}" in row and f"{factor['bicubic_from_base']['psnr']:.2f}" in row


def test_a_missing_setting_names_the_setting(tmp_path):
    proc = cli("data=image_folder", f"hydra.run.dir={tmp_path / 'x'}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "data=image_folder needs data.path" in proc.stderr and "data.path=~/pictures" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, hint",
    [
        ("model=sprder", "`model=sprder` is not an option. Did you mean `model=spder`?"),
        ("trainer.max_step=3", "`trainer.max_step` is not a config key. Did you mean `trainer.max_steps`"),
    ],
)
def test_did_you_mean_comes_first_and_alone(tmp_path, override, hint):
    proc = cli(override, f"hydra.run.dir={tmp_path / 'x'}")
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"[inr_bench] error: {lines[0].split('error: ', 1)[1]}"] and hint in lines[0], (
        proc.stderr
    )
    assert "Available options" not in proc.stderr and "HYDRA_FULL_ERROR" not in proc.stderr


@pytest.mark.slow
def test_offline_wandb_prints_nothing_alarming(tmp_path):
    proc = cli(*TINY, "trainer.max_steps=2", "logger=wandb", f"hydra.run.dir={tmp_path / 'w'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    output = proc.stdout + proc.stderr
    assert "WARNING" not in output and "anonymous" not in output
    assert f"W&B offline run files: {tmp_path / 'w' / 'wandb'}" in output
