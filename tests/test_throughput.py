"""The throughput benchmark runs end to end at a tiny size and reports what the issue asks for.

Its timings are never bounded here (shared machines are noisy): every variant ran, the ratios
are the ratios of the timings reported, and each variant's final loss is the one of the same fit
computed independently in this test (the floor's that of the same layers without activations)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
import torch

from conftest import compose_config
from inr_bench.nn.build import build_network, build_optimizer
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


def independent_fit_loss(size: int, width: int, steps: int, linear: bool = False) -> float:
    """The benchmark's fit written out: model=spder at `width` from seed 0, the target
    sin(5 y) cos(3 x) on a size x size grid, full-batch MSE, the model's Adam; the loss before
    the last of `steps` updates."""
    torch.manual_seed(0)
    side = torch.linspace(-1.0, 1.0, size)
    coords = torch.stack(torch.meshgrid(side, side, indexing="ij"), dim=-1).reshape(-1, 2)
    target = torch.sin(5.0 * coords[:, :1]) * torch.cos(3.0 * coords[:, 1:])
    cfg = compose_config(
        Path("unused"), ["model=spder", f"model.net.width={width}", "model.net.activation.fused=false"]
    )
    net = build_network(cfg.model, 2, 1)
    layers = [*net.linears, net.head]
    optimizer = build_optimizer(cfg.model, net.parameters())
    for _ in range(steps):
        h = coords
        for index, layer in enumerate(layers):
            h = layer(h)
            if index < len(layers) - 1 and not linear:
                h = torch.sin(30.0 * h) * torch.sqrt(
                    torch.clamp(torch.abs(30.0 * h), min=torch.finfo(h.dtype).tiny)
                )
        loss = torch.mean((h - target) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


@pytest.mark.slow
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
    # ... and that loss is the one of this fit computed here: one warm-up and two timed steps, so
    # the last loss is measured before the third update; the floor is the same layers without
    # activations (a linear network), a different function with a different loss.
    assert losses["eager"] == pytest.approx(independent_fit_loss(24, 32, 3), rel=1e-5)
    assert losses["floor"] == pytest.approx(independent_fit_loss(24, 32, 3, linear=True), rel=1e-5)
    assert abs(losses["floor"] - losses["eager"]) > 1e-3 * losses["eager"]
    for variant in ("eager", "default", "floor"):
        times = row["details"][variant]["step_times_s"]
        assert len(times) == 2 and row[f"{variant}_step_s"] == pytest.approx(statistics.median(times))
    assert summary["spder"]["memory_ratio"] == pytest.approx(row["memory_ratio"])
    printed = capsys.readouterr().out
    assert "default/floor" in printed and "spder" in printed
