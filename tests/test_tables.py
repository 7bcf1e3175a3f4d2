"""The resumable table runner (python -m inr_bench.tables) and its aggregation."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from inr_bench.config import compose_config
from inr_bench.tables.aggregate import aggregate
from inr_bench.tables.runner import run_tables

# Tiny fits: 3 real DIV2K crops at 16x16, a narrow network, a few steps.
TINY = [
    "data=div2k",
    "data.size=16",
    "model.net.width=32",
    "model.net.hidden_layers=2",
    "trainer.max_steps=12",
    "eval_steps=[4]",
]


def table_overrides(out_dir: Path, *extra: str) -> list[str]:
    return [
        *TINY,
        "table.models=[spder,siren]",
        "table.num_signals=3",
        "table.batch_size=2",
        f"table.out_dir={out_dir}",
        *extra,
    ]


def run_in_process(overrides: list[str]) -> Path:
    return run_tables(compose_config(overrides, config_name="tables"), overrides)


def result_files(out_dir: Path) -> dict[str, list[str]]:
    return {d.name: sorted(p.stem for p in d.glob("*.json")) for d in sorted((out_dir / "results").iterdir())}


def fit_table(out_dir: Path) -> str:
    """table.md up to its notes (the part that holds numbers)."""
    return (out_dir / "table.md").read_text().split("## What these numbers are")[0]


@pytest.fixture(autouse=True)
def small_and_quiet(monkeypatch):
    # Compiling the fused activation costs more than these tiny fits; the runner is what is tested.
    monkeypatch.setenv("INR_BENCH_FUSED", "0")
    # One thread: tiny matrices gain nothing from more, and on a busy machine OpenMP threads
    # waiting for each other make them many times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_killed_run_restarted_gives_one_result_per_fit_and_the_same_table(shared_data, tmp_path):
    env = {**os.environ, "INR_BENCH_FUSED": "0", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "inr_bench.tables"]
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [*command, *table_overrides(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if list((killed / "results").glob("*/*.json")):
            break
        time.sleep(0.05)
    assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read()[-2000:]}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written = list((killed / "results").glob("*/*.json"))
    assert 1 <= len(written) < 6, "the kill must fall part-way through the 6 fits"

    restarted = subprocess.run(
        [*command, *table_overrides(killed)], env=env, capture_output=True, text=True, timeout=300
    )
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    ids = ["div2k_0000", "div2k_0001", "div2k_0002"]
    assert result_files(killed) == {"siren": ids, "spder": ids}

    # The same benchmark, uninterrupted (in this process: same code, same numbers).
    whole = tmp_path / "whole"
    run_in_process(table_overrides(whole))
    assert result_files(whole) == result_files(killed)
    assert fit_table(killed) == fit_table(whole)
    assert "| fits ok / failed |  | 3 / 0 | 3 / 0 |" in fit_table(whole)
    for path in (whole / "results").glob("*/*.json"):
        record = json.loads(path.read_text())
        assert record["status"] == "ok" and record["table"]["mode"] == "batched"
        assert [entry["step"] for entry in record["evals"]] == [4, 12]
        assert len(record["loss_curve"]) == 12
    for name in ("table.md", "table.csv", "psnr_vs_step.png"):
        assert (whole / name).is_file()


def test_a_refitted_group_writes_only_its_missing_member_and_reproduces_it(shared_data, tmp_path):
    out = tmp_path / "bench"
    overrides = table_overrides(out, "table.models=[spder]")
    run_in_process(overrides)
    lost = out / "results" / "spder" / "div2k_0001.json"
    kept = out / "results" / "spder" / "div2k_0000.json"
    before, kept_before = json.loads(lost.read_text()), kept.stat().st_mtime_ns
    lost.unlink()  # as if the run died between the two writes of the group {0, 1}
    run_in_process(overrides)
    after = json.loads(lost.read_text())
    assert kept.stat().st_mtime_ns == kept_before  # a finished fit is never rewritten
    assert after["evals"] == before["evals"]  # refitted beside the same companion: same numbers
    assert len(list((out / "results" / "spder").glob("*.json"))) == 3


def test_batched_and_one_at_a_time_runs_agree(shared_data, tmp_path):
    batched, alone = tmp_path / "batched", tmp_path / "alone"
    run_in_process(table_overrides(batched, "table.models=[spder]", "table.num_signals=2"))
    run_in_process(
        table_overrides(alone, "table.models=[spder]", "table.num_signals=2", "table.batch_size=1")
    )
    for sid in ("div2k_0000", "div2k_0001"):
        a = json.loads((batched / "results" / "spder" / f"{sid}.json").read_text())
        b = json.loads((alone / "results" / "spder" / f"{sid}.json").read_text())
        assert a["table"]["mode"] == "batched" and b["table"]["mode"] == "sequential"
        for x, y in zip(a["evals"], b["evals"], strict=True):
            assert x["step"] == y["step"]
            assert x["loss"] == pytest.approx(y["loss"], rel=1e-3)
        assert a["info"]["fingerprint"] == b["info"]["fingerprint"]
        assert "data=div2k" in b["table"]["command"] and "model=spder" in b["table"]["command"]


@pytest.mark.parametrize("batch_size", [2, 1])
def test_an_unreadable_signal_is_recorded_failed_and_the_others_go_on(shared_data, tmp_path, batch_size):
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted((shared_data / "div2k").glob("*.png"))[:2]:
        shutil.copy(path, folder / path.name)
    (folder / "zz_truncated.png").write_bytes(
        (shared_data / "div2k" / "div2k_crop_02.png").read_bytes()[:500]
    )
    out = tmp_path / "bench"
    overrides = table_overrides(
        out,
        "data=image_folder",
        f"data.path={folder}",
        "table.models=[spder]",
        f"table.batch_size={batch_size}",
    )
    table = run_in_process(overrides)
    records = {p.stem: json.loads(p.read_text()) for p in (out / "results" / "spder").glob("*.json")}
    assert sorted(records) == ["image_folder_0000", "image_folder_0001", "image_folder_0002"]
    assert records["image_folder_0002"]["status"] == "failed"
    assert "zz_truncated.png" in records["image_folder_0002"]["reason"]
    assert [records[f"image_folder_000{i}"]["status"] for i in (0, 1)] == ["ok", "ok"]
    assert "| fits ok / failed |  | 2 / 1 |" in table.read_text()
    # A re-run keeps the failure (not retried by default) and fits nothing again.
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "results" / "spder").glob("*.json")}
    run_in_process(overrides)
    assert mtimes == {p: p.stat().st_mtime_ns for p in (out / "results" / "spder").glob("*.json")}


def test_results_of_another_configuration_are_refused(shared_data, tmp_path):
    from inr_bench.errors import InrBenchError

    out = tmp_path / "bench"
    run_in_process(table_overrides(out, "table.models=[siren]", "table.num_signals=1"))
    with pytest.raises(InrBenchError, match="another configuration"):
        run_in_process(
            table_overrides(out, "table.models=[siren]", "table.num_signals=1", "trainer.max_steps=13")
        )


def test_unknown_architecture_is_a_clear_error(tmp_path):
    from inr_bench.errors import InrBenchError

    with pytest.raises(InrBenchError, match="Available"):
        run_in_process(table_overrides(tmp_path / "x", "table.models=[no_such_net]"))


def test_aggregate_layout_mirrors_table_1(tmp_path):
    """Rows metric x step, columns in the models' table order under their labels, mean ± sample
    std, failures counted."""

    LABELS = {"relu": "ReLU", "siren": "SIREN", "spder": "SPDER"}
    ORDER = {"relu": 10, "siren": 40, "spder": 100}  # the model configs' table_order

    def record(model, loss, status="ok"):
        evals = [{"step": 25, "loss": loss, "psnr": 10.0, "psnr_paper": 1.0, "ssim": 0.5, "rho_ag": 0.9}]
        return {
            "status": status,
            "model": model,
            "label": LABELS[model],
            "evals": evals if status == "ok" else [],
            "reason": None if status == "ok" else "boom",
            "info": {
                "psnr_convention": "10*log10(4/MSE)",
                "rho_ag_variant": "reference",
                "table_order": ORDER[model],
            },
            "loss_curve": [[0, loss], [1, loss]],
        }

    for model, losses in (("spder", [0.01, 0.03]), ("relu", [0.2, 0.4]), ("siren", [0.1])):
        for i, loss in enumerate(losses):
            path = tmp_path / "results" / model / f"s{i}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record(model, loss)))
    (tmp_path / "results" / "siren" / "s1.json").write_text(json.dumps(record("siren", 0.0, "failed")))
    text = aggregate(tmp_path).read_text()
    header = next(line for line in text.splitlines() if line.startswith("| Metric"))
    assert header == "| Metric | Step | ReLU | SIREN | SPDER |"
    assert "| fits ok / failed |  | 2 / 0 | 1 / 1 | 2 / 0 |" in text
    # SIREN has one successful fit: its standard deviation is undefined, so only the mean shows.
    assert "| Loss (MSE, ↓) | 25 | 0.3000 ± 1.4e-01 | 0.1000 | 0.0200 ± 1.4e-02 |" in text
    assert "failed: SIREN on s1: boom" in text
    csv_text = (tmp_path / "table.csv").read_text()
    assert "fit,loss,25,spder,0.02," in csv_text
    beside = aggregate(tmp_path, paper="table1").read_text().split("## Beside the paper")[1]
    assert "| Loss (MSE, ↓) | 25 | 0.3000 ± 1.4e-01 | 0.1276 ± 0.06 |" in beside


def test_task_rows_scored_against_an_upsampled_target_are_marked(tmp_path):
    """Super-resolution past the source's size has no ground truth: the table must say so."""

    def factor_entry(psnr, interpolated):
        scores = {"mse": 4.0 / 10 ** (psnr / 10), "psnr": psnr, "rho_ag": 0.9}
        return {"target_interpolated": interpolated, "inr": scores, "bicubic_from_base": scores}

    record = {
        "status": "ok",
        "model": "spder",
        "evals": [{"step": 100, "loss": 1e-4, "psnr": 46.0, "psnr_paper": 1.0, "ssim": 0.9, "rho_ag": 0.99}],
        "info": {},
        "loss_curve": [[0, 0.1], [99, 1e-4]],
        "task": {
            "name": "superres",
            "factors": {"2": factor_entry(30.0, False), "4": factor_entry(25.0, True)},
        },
    }
    path = tmp_path / "results" / "spder" / "s0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    text = aggregate(tmp_path).read_text()
    task = text.split("## Task: superres")[1]
    assert "| 2x | 30.00 | 30.00 |" in task and "| 4x † | 25.00 | 25.00 |" in task
    assert "bilinear upsample" in task


def test_table_columns_keeps_only_the_named_columns_of_a_preset(shared_data, tmp_path):
    from inr_bench.errors import InrBenchError

    out = tmp_path / "bench"
    variants = "table.models=[spder,siren,{id:spder_arctan,model:spder,overrides:['delta=arctan']}]"
    run_in_process(table_overrides(out, variants, "table.columns=[spder_arctan]", "table.num_signals=1"))
    assert list(result_files(out)) == ["spder_arctan"]
    with pytest.raises(
        InrBenchError, match=r"table.columns names \['sirne'\].*'spder', 'siren', 'spder_arctan'"
    ):
        run_in_process(table_overrides(out, variants, "table.columns=[sirne]"))
