"""A run killed part-way (SIGKILL, SIGINT) and resumed with `hydra.run.dir=<run> resume=last`
ends with exactly the metrics of an uninterrupted run; a checkpoint that does not fit is refused
before anything is written.

The command-line runs use one CPU thread and the eager activation (OMP_NUM_THREADS=1,
INR_BENCH_FUSED=0), as the in-process reference run does, so float results compare exactly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from conftest import compose_config, tiny
from inr_bench.errors import InrBenchError
from inr_bench.record import read_metrics
from inr_bench.train import train

# 60 steps, a checkpoint every 5: the run is killed at its first checkpoint, well before the end.
RUN = [
    "data.size=16",
    "trainer.max_steps=60",
    "eval_steps=[10,30]",
    "callbacks.checkpoint.every_n_train_steps=5",
    "save_outputs=false",
]
CLI_QUIET = ["~callbacks.progress_bar", "+trainer.enable_progress_bar=false"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "INR_BENCH_FUSED": "0", "PYTHONUNBUFFERED": "1"}


def in_process(out_dir: Path, *extra: str) -> dict:
    """train(cfg) here, single-threaded and eager like the command-line runs."""
    threads, fused = torch.get_num_threads(), os.environ.get("INR_BENCH_FUSED")
    torch.set_num_threads(1)
    os.environ["INR_BENCH_FUSED"] = "0"
    try:
        GlobalHydra.instance().clear()
        return train(tiny(compose_config(out_dir, [*RUN, *extra])))
    finally:
        torch.set_num_threads(threads)
        if fused is None:
            os.environ.pop("INR_BENCH_FUSED")
        else:
            os.environ["INR_BENCH_FUSED"] = fused


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("uninterrupted")
    assert in_process(run)["status"] == "ok"
    return run


def start_cli(run_dir: Path, *extra: str) -> subprocess.Popen:
    # SIGINT back to its default in the child: a shell's background job would ignore it.
    return subprocess.Popen(
        [sys.executable, "-m", "inr_bench.train", *RUN, *CLI_QUIET, f"hydra.run.dir={run_dir}", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def stop_at_first_checkpoint(proc: subprocess.Popen, run_dir: Path, how: signal.Signals) -> tuple[str, int]:
    """Send `how` as soon as checkpoints/last.ckpt exists; (stderr, step of that checkpoint)."""
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 500
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert proc.poll() is None, f"the run ended before it could be stopped:\n{proc.communicate()[1][-3000:]}"
    proc.send_signal(how)
    _, err = proc.communicate(timeout=300)
    step = torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]
    assert 5 <= step < 60
    return err, step


def assert_same_results(resumed: Path, reference: Path) -> None:
    got, want = read_metrics(resumed), read_metrics(reference)
    assert got["status"] == "ok"
    assert [e["step"] for e in got["evals"]] == [10, 30, 60]
    assert got["evals"] == want["evals"]  # exact float equality
    assert got["best"] == want["best"] and got["final"] == want["final"]
    curve = (resumed / "loss_curve.csv").read_text()
    assert curve == (reference / "loss_curve.csv").read_text()
    steps = [int(line.split(",")[0]) for line in curve.splitlines()[1:]]
    assert steps == list(range(60))  # every step once: none lost, none doubled


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, uninterrupted):
    run = tmp_path / "killed"
    _, step = stop_at_first_checkpoint(start_cli(run), run, signal.SIGKILL)
    assert not (run / "metrics.json").exists() or read_metrics(run)["status"] == "running"

    resumed = subprocess.run(
        [sys.executable, "-m", "inr_bench.train", *RUN, *CLI_QUIET, f"hydra.run.dir={run}", "resume=last"],
        capture_output=True,
        text=True,
        timeout=600,
        env=ENV,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Traceback" not in resumed.stderr and "dataloader is not resumable" not in resumed.stderr
    assert_same_results(run, uninterrupted)


@pytest.mark.slow
def test_sigint_says_how_to_resume_and_the_resume_matches(tmp_path, uninterrupted):
    run = tmp_path / "interrupted"
    err, step = stop_at_first_checkpoint(start_cli(run), run, signal.SIGINT)
    assert "[inr_bench] error: Interrupted (SIGINT / Ctrl+C) at step" in err, err[-3000:]
    assert f"hydra.run.dir={run} resume=last" in err and "Traceback" not in err
    metrics = read_metrics(run)
    assert metrics["status"] == "failed" and metrics["reason"].startswith("KeyboardInterrupt: Interrupted")
    assert "resume=last" in metrics["reason"]

    result = in_process(run, "resume=last")  # the same as the printed command, in this process
    assert result["status"] == "ok"
    assert_same_results(run, uninterrupted)


def test_resume_refuses_a_foreign_or_broken_checkpoint(tmp_path, uninterrupted):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(
        (uninterrupted / "checkpoints" / "last.ckpt").read_bytes()
    )
    (run / "metrics.json").write_text((uninterrupted / "metrics.json").read_text())
    before = (run / "metrics.json").read_text()

    with pytest.raises(InrBenchError, match="saved by a different network"):
        in_process(run, "resume=last", "model.net.width=64")
    data = (run / "checkpoints" / "last.ckpt").read_bytes()
    (run / "checkpoints" / "last.ckpt").write_bytes(data[: len(data) // 3])  # cut short
    with pytest.raises(InrBenchError, match="the checkpoint cannot be read"):
        in_process(run, "resume=last")
    assert (run / "metrics.json").read_text() == before
    assert json.loads(before)["status"] == "ok"
    assert not (run / "config.yaml").exists()
