"""Every evaluation reaches every logger as the run goes, with the optimiser step: the CSV
logger's file, TensorBoard's event file (read with tensorboard's own reader) and the offline W&B
run hold the same eval/* values as metrics.json; the learning rate and pictures are logged too;
a scheduled run resumed from its checkpoint ends exactly as the uninterrupted one."""

from __future__ import annotations

import csv
import os

import pytest
import torch

from conftest import compose_config, tiny
from inr_bench.train import train
from test_wandb import read_run

EVAL_KEYS = ("loss", "psnr", "psnr_paper", "ssim", "rho_ag")
RUN = [
    "data.size=16",
    "model.net.width=32",
    "model.net.hidden_layers=2",
    "trainer.max_steps=6",
    "eval_steps=[2,4]",
    "scheduler=cosine",
]


@pytest.fixture(autouse=True)
def eager_single_thread(monkeypatch):
    monkeypatch.setenv("INR_BENCH_FUSED", "0")  # exact comparisons, no compilation
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("logged")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INR_BENCH_FUSED", "0")
        result = train(tiny(compose_config(out, [*RUN, "logger=[csv,tensorboard,wandb]"])))
    return out, result


def test_csv_holds_every_evaluation_at_its_step(logged_run):
    out, result = logged_run
    with (out / "csv" / "version_0" / "metrics.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    evals = {int(row["step"]): row for row in rows if row.get("eval/psnr")}
    assert sorted(evals) == [entry["step"] for entry in result["evals"]] == [2, 4, 6]
    for entry in result["evals"]:
        for key in EVAL_KEYS:
            assert float(evals[entry["step"]][f"eval/{key}"]) == pytest.approx(entry[key], rel=1e-12), key
    # the rate of every update: cosine from 1e-4 towards 0 over the 6 steps
    rates = [float(row["train/lr"]) for row in rows if row.get("train/lr")]
    assert len(rates) == 6 and rates[0] == pytest.approx(1e-4) and rates == sorted(rates, reverse=True)
    assert rates[-1] == pytest.approx(1e-4 * 0.5 * (1 + torch.cos(torch.tensor(5 / 6 * torch.pi)).item()))


def test_tensorboard_holds_every_evaluation_pictures_and_the_results(logged_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, result = logged_run
    (folder,) = [path.parent for path in (out / "tensorboard").rglob("events.out.tfevents.*")][:1]
    events = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    for key in EVAL_KEYS:
        logged = {event.step: event.value for event in events.Scalars(f"eval/{key}")}
        assert sorted(logged) == [2, 4, 6]
        for entry in result["evals"]:  # TensorBoard keeps float32
            assert logged[entry["step"]] == pytest.approx(entry[key], rel=1e-6), key
    for picture in ("eval/reconstruction", "eval/spectrum"):
        images = events.Images(picture)
        assert [image.step for image in images] == [2, 4, 6]
        assert (images[0].width, images[0].height) == (16, 16)
    # the final and best figures beside the run's settings (TensorBoard's hparams view)
    assert events.Scalars("final/psnr")[-1].value == pytest.approx(result["final"]["psnr"], rel=1e-6)
    assert events.Scalars("best/loss")[-1].value == pytest.approx(result["best"]["loss"], rel=1e-5)
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")


def test_wandb_offline_run_holds_the_same_evaluations(logged_run):
    out, result = logged_run
    run = read_run(out)
    logged = {row["trainer/global_step"]: row for row in run["history"] if "eval/psnr" in row}
    assert sorted(logged) == [2, 4, 6]
    for entry in result["evals"]:
        for key in EVAL_KEYS:
            assert logged[entry["step"]][f"eval/{key}"] == pytest.approx(entry[key], rel=1e-12), key
    pictures = {
        row["trainer/global_step"]
        for row in run["history"]
        if any(k.startswith("eval/reconstruction") for k in row)
    }
    assert pictures == {2, 4, 6}
    assert run["summary"]["final/psnr"] == pytest.approx(result["final"]["psnr"])
    assert run["name"] == "spder-sqrt-camera"


def test_a_scheduled_run_resumed_from_its_checkpoint_ends_exactly_as_the_uninterrupted_one(tmp_path):
    common = [
        *RUN,
        "trainer.max_steps=30",
        "eval_steps=[10,20]",
        "callbacks.checkpoint.every_n_train_steps=10",
        "save_outputs=false",
    ]
    whole = train(tiny(compose_config(tmp_path / "whole", common)))
    cut = tmp_path / "cut"
    with pytest.raises(RuntimeError, match="stopped at step 15"):
        train(
            tiny(
                compose_config(
                    cut, [*common, "+callbacks.stop._target_=conftest.StopAtStep", "+callbacks.stop.step=15"]
                )
            )
        )
    assert (cut / "checkpoints" / "last.ckpt").is_file()
    resumed = train(tiny(compose_config(cut, [*common, "resume=last"])))
    assert resumed["status"] == "ok"
    assert resumed["evals"] == whole["evals"] and resumed["best"] == whole["best"]
    assert (cut / "loss_curve.csv").read_text() == (tmp_path / "whole" / "loss_curve.csv").read_text()
    # and the schedule really moved the rate (a constant rate would pass the above too)
    with (tmp_path / "whole" / "csv" / "version_0" / "metrics.csv").open() as stream:
        rates = [float(row["train/lr"]) for row in csv.DictReader(stream) if row.get("train/lr")]
    assert rates[0] == pytest.approx(1e-4) and rates[-1] < 0.01 * rates[0]
    assert os.environ["INR_BENCH_FUSED"] == "0"
