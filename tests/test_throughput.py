"""The throughput benchmark runs end to end at a tiny size and reports what the issue asks for.

Its figures are never asserted here (shared machines are noisy): only that every variant ran,
the report has its fields, and the three variants trained the same network alike."""

from __future__ import annotations

import json
import math

import pytest

from inr_bench.perf import throughput

KEYS = (
    "eager_step_s",
    "default_step_s",
    "floor_step_s",
    "eager_peak_mb",
    "default_peak_mb",
    "speedup_vs_eager",
    "ratio_to_floor",
    "memory_ratio",
    "floor_memory_ratio",
)


def test_benchmark_reports_every_figure_and_variants_agree(tmp_path, monkeypatch, capsys):
    # The fused kernels would be skipped at this size; make the default path really fused.
    monkeypatch.setenv("INR_BENCH_FUSED_MIN_NUMEL", "0")
    out = tmp_path / "throughput.json"
    summary = throughput.main(
        [
            "--size",
            "24",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--models",
            "spder",
            "--width",
            "32",
            "--out",
            str(out),
        ]
    )
    report = json.loads(out.read_text())
    row = report["spder"]
    for key in KEYS:
        assert math.isfinite(row[key]) and row[key] > 0, key
    assert row["speedup_vs_eager"] == pytest.approx(row["eager_step_s"] / row["default_step_s"])
    assert row["ratio_to_floor"] == pytest.approx(row["default_step_s"] / row["floor_step_s"])
    assert row["floor_memory_ratio"] == pytest.approx(row["floor_peak_mb"] / row["eager_peak_mb"])
    assert "cpu" in report["machine"] and report["machine"]["benchmark"]["size"] == 24
    # Same initialisation, same function: eager and default end at the same loss after the
    # warm-up and timed steps; the floor (no activation) is a different function.
    losses = {v: row["details"][v]["final_loss"] for v in ("eager", "default", "floor")}
    assert losses["default"] == pytest.approx(losses["eager"], rel=1e-4)
    assert summary["spder"]["memory_ratio"] == pytest.approx(row["memory_ratio"])
    printed = capsys.readouterr().out
    assert "default/floor" in printed and "spder" in printed
