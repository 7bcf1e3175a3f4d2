"""`make gpu-check` in its dry mode: every step of the GPU check runs on the CPU at tiny sizes
(the CUDA-only step is skipped with a line saying so), so the script cannot rot between GPUs."""

from __future__ import annotations

import json

import pytest

from inr_bench.perf import gpu_check


@pytest.mark.slow
def test_the_dry_run_runs_every_step_and_writes_the_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INR_BENCH_FUSED", "0")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    report = gpu_check.main(["--dry", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "gpu_tests: skipped (no CUDA" in printed
    steps = {step["name"]: step for step in report["steps"]}
    assert set(steps) == {"gpu_tests", "throughput_16", "batched", "main_job", "table1_slice"}
    assert all(step.get("exit") == 0 for name, step in steps.items() if name != "gpu_tests")
    figures = report["figures"]
    # the throughput, batched and fitting figures came from the real runs' own files
    assert figures["throughput 16x16"]["spder"]["default_step_s"] > 0
    assert [row["k"] for row in figures["batched fitting"]] == [1, 2]
    assert figures["main job"]["final"]["step"] == 2
    comparison = figures["table 1 slice"]["beside the CPU (PSNR dB at steps 25/100/500)"]
    assert {(row["model"], row["crop"]) for row in comparison} == {
        (m, c) for m in ("spder", "siren") for c in (0, 1)
    }
    on_disk = json.loads((tmp_path / "gpu_check.json").read_text())
    assert on_disk["dry"] is True and on_disk["steps"] == report["steps"]
    assert "no GPU (dry run on the CPU)" in (tmp_path / "gpu_check.md").read_text()
