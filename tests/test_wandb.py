"""W&B in offline mode: one run per job, closed even when the job fails, with the job's
scalars, summary and pictures in the run files."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from inr_bench.errors import NonFiniteLossError
from inr_bench.scaleout import name_wandb_run, sweep_group
from inr_bench.train import train

TINY = ["data.size=16", "trainer.max_steps=4", "++model.net.activation.fused=false"]


def wandb_records(run_dir: Path) -> list:
    """The records of an offline run's .wandb file. The file is W&B's 7-byte header followed by
    a LevelDB-style log: 32 KiB blocks of [crc32 (4), length (2), kind (1)] + payload, where
    kind 1 is a whole record and 2/3/4 its first/middle/last fragments; a block's last < 7
    bytes are padding. Each record is a wandb_internal_pb2.Record (wandb >= 0.19 no longer
    ships a Python reader for offline runs)."""
    from wandb.proto import wandb_internal_pb2

    data = next(run_dir.glob("*.wandb")).read_bytes()
    assert data[:4] == b":W&B"
    records, position, pending = [], 7, b""
    while position + 7 <= len(data):
        room = 32768 - position % 32768
        if room < 7:
            position += room
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        payload = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (2, 3):
            pending += payload
        elif kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending + payload)
            records.append(record)
            pending = b""
        else:
            raise AssertionError(f"unexpected record kind {kind}")
    return records


def read_run(output_dir: Path, timeout: float = 30.0) -> dict:
    """history rows, summary and run/exit facts of the one offline run under output_dir
    (waiting for the exit record: W&B's service process may still be writing the file)."""
    runs = list((output_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs
    deadline = time.monotonic() + timeout
    records = wandb_records(runs[0])
    while (
        not any(record.WhichOneof("record_type") == "exit" for record in records)
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
        records = wandb_records(runs[0])
    history, summary, info = [], {}, {}
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
        elif kind == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "run":
            info.update(group=record.run.run_group, tags=list(record.run.tags), name=record.run.display_name)
        elif kind == "exit":
            info["exit_code"] = record.exit.exit_code
    return {"history": history, "summary": summary, "dir": runs[0], **info}


def test_offline_run_holds_metrics_pictures_and_is_closed(make_config, tmp_path):
    import wandb

    cfg = make_config("logger=wandb", *TINY, "eval_steps=[2]")
    result = train(cfg)
    assert wandb.run is None  # closed at the end of the job
    run = read_run(tmp_path / "run")
    assert run["exit_code"] == 0
    assert {"model:spder", "delta:sqrt", "data:camera"} <= set(run["tags"])
    losses = [row["train/loss"] for row in run["history"] if "train/loss" in row]
    assert len(losses) == 4 and losses[-1] < losses[0]
    evals = {row["trainer/global_step"]: row["eval/psnr"] for row in run["history"] if "eval/psnr" in row}
    assert sorted(evals) == [2, 4]
    assert evals[4] == pytest.approx(result["final"]["psnr"])
    summary = run["summary"]
    for key in ("loss", "psnr", "ssim", "rho_ag"):
        assert summary[f"final/{key}"] == pytest.approx(result["final"][key]), key
    assert summary["best/loss"] == pytest.approx(result["best"]["loss"])
    # a picture is a nested value: media/<key>/{_type, path, sha256, ...}
    media = {
        "/".join(key.split("/")[:2]) for row in run["history"] for key in row if key.startswith("media/")
    }
    assert {"media/reconstruction", "media/spectrum", "media/loss_curve"} <= media
    assert len(list((run["dir"] / "files" / "media").glob("**/*.png"))) >= 3


def test_failed_job_closes_its_run_marked_failed(make_config, tmp_path):
    import wandb

    cfg = make_config("logger=wandb", *TINY, "model.optimizer.lr=1e30")
    with pytest.raises(NonFiniteLossError):
        train(cfg)
    assert wandb.run is None
    run = read_run(tmp_path / "run")
    assert run["exit_code"] == 1
    assert any("train/loss" in row for row in run["history"])  # the finite steps before it diverged


def test_sweep_jobs_share_a_group_and_name_their_number(make_config):
    cfg = make_config("logger=wandb", "model=siren")
    name_wandb_run(cfg, 3, "/tmp/multirun/2026-01-02/10-11-12-000001")
    assert (
        cfg.logger.wandb.group
        == sweep_group("/x/multirun/2026-01-02/10-11-12-000001")
        == "2026-01-02/10-11-12-000001"
    )
    assert cfg.logger.wandb.name.endswith("-job3")
    resolved = OmegaConf.to_container(cfg.logger.wandb, resolve=True)
    assert resolved["group"] == "2026-01-02/10-11-12-000001"
