"""Sweeps: Hydra multiruns with the joblib and submitit launchers, the sweep summary, failed
jobs, GPU sharing between parallel jobs, and the W&B sweep files as Hydra overrides."""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from conftest import REPO_ROOT, compose_config, tiny
from inr_bench.errors import InrBenchError
from inr_bench.nn.damping import DAMPINGS
from inr_bench.scaleout import assign_devices, assign_gpus
from inr_bench.sweep_summary import mark_job_failed, write_summary
from inr_bench.train import train

SWEEPS = REPO_ROOT / "sweeps"
TINY = [
    "data.size=16",
    "trainer.max_steps=3",
    "eval_steps=[2]",
    "callbacks=none",
    "+trainer.enable_progress_bar=false",
    "++model.net.activation.fused=false",  # no kernel compilation in every job process
]


def multirun(sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [
        sys.executable,
        "-m",
        "inr_bench.train",
        "-m",
        *overrides,
        *TINY,
        f"hydra.sweep.dir={sweep_dir}",
    ]
    proc = subprocess.run(command, cwd=sweep_dir.parent, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def summary_rows(sweep_dir: Path) -> list[dict]:
    with (sweep_dir / "summary.csv").open() as stream:
        return list(csv.DictReader(stream))


# --- real multiruns ---------------------------------------------------------------------------


@pytest.mark.slow
def test_joblib_multirun_over_three_dampings(tmp_path):
    sweep = tmp_path / "sweep"
    proc = multirun(sweep, "launcher=joblib", "hydra.launcher.n_jobs=2", "delta=sqrt,log,arctan")
    for num, delta in enumerate(["sqrt", "log", "arctan"]):
        metrics = json.loads((sweep / str(num) / "metrics.json").read_text())
        assert metrics["status"] == "ok" and metrics["delta"] == delta
        assert metrics["final"]["step"] == 3 and (sweep / str(num) / "loss_curve.csv").is_file()
        assert f"[inr_bench] job {num}: delta={delta} -> psnr" in proc.stdout
    rows = summary_rows(sweep)
    assert [(row["job"], row["delta"], row["status"]) for row in rows] == [
        ("0", "sqrt", "ok"), ("1", "log", "ok"), ("2", "arctan", "ok"),
    ]  # fmt: skip
    assert all(float(row["psnr"]) > 0 and 0 < float(row["rho_ag"]) <= 1 for row in rows)
    markdown = (sweep / "summary.md").read_text()
    assert "3 jobs: 3 ok." in markdown and "| `arctan` | **ok** |" in markdown
    assert "data.size=16" in markdown.split("|")[0]  # the common overrides are said once, above
    assert (sweep / "summary.png").stat().st_size > 10_000


@pytest.mark.slow
def test_submitit_local_jobs_and_a_diverging_job(tmp_path):
    """Two jobs through submitit's local executor; the second diverges (NaN loss) and is marked
    failed in the summary, while the first finishes."""
    sweep = tmp_path / "sweep"
    multirun(sweep, "launcher=slurm_local", "model.optimizer.lr=1e-4,1e30")
    assert list((sweep / ".submitit").glob("*/*_log.out"))  # the jobs went through submitit
    good, bad = summary_rows(sweep)
    assert good["status"] == "ok" and good["model.optimizer.lr"] == "0.0001" and float(good["psnr"]) > 0
    assert bad["status"] == "failed" and "NonFiniteLossError" in bad["reason"] and bad["psnr"] == ""
    assert json.loads((sweep / "1" / "metrics.json").read_text())["status"] == "failed"
    assert "2 jobs: 1 ok, 1 failed." in (sweep / "summary.md").read_text()


def test_summary_marks_bad_data_path_and_missing_jobs(tmp_path):
    """A job with a bad data path (as main() records it in a multirun), a job that finished,
    and a job whose folder never appeared."""
    sweep = tmp_path / "sweep"
    jobs = [
        ["data.picture=camera"],
        ["data=image_folder", f"data.path={tmp_path / 'nowhere'}"],
        ["delta=log"],
    ]
    for num, overrides in enumerate(jobs[:2]):
        folder = sweep / str(num)
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        cfg = tiny(compose_config(folder, [*overrides, *TINY]))
        try:
            train(cfg)
        except InrBenchError as error:
            mark_job_failed(cfg, error)
    results = write_summary(sweep, expected=jobs, plot=True)
    assert [(result.num, result.status) for result in results] == [(0, "ok"), (1, "failed"), (2, "failed")]
    assert "nowhere" in results[1].reason and "never started" in results[2].reason
    recorded = json.loads((sweep / "1" / "metrics.json").read_text())
    assert recorded["status"] == "failed" and recorded["data"] == "image_folder"
    rows = summary_rows(sweep)
    assert rows[2]["overrides"] == "delta=log" and rows[2]["status"] == "failed"
    assert "3 jobs: 1 ok, 2 failed." in (sweep / "summary.md").read_text()
    assert (sweep / "summary.png").is_file()


# --- GPUs for parallel jobs -------------------------------------------------------------------


def test_gpu_assignment_takes_job_number_modulo_gpus():
    assert [assign_devices(job, 4) for job in range(6)] == [[0], [1], [2], [3], [0], [1]]
    assert [assign_devices(job, 4, devices_per_job=2) for job in range(3)] == [[0, 1], [2, 3], [0, 1]]
    assert assign_devices(5, 1) is None and assign_devices(5, 0) is None  # nothing to share
    assert assign_devices(1, 3, devices_per_job=2) is None


def test_gpu_assignment_goes_into_the_trainer(tmp_path):
    cfg = compose_config(tmp_path, [])
    assert assign_gpus(cfg, job_num=5, gpu_count=2) == [1]
    assert cfg.trainer.devices == [1] and cfg.trainer.accelerator == "gpu"
    cpu = compose_config(tmp_path, ["trainer=cpu"])
    assert assign_gpus(cpu, job_num=5, gpu_count=2) is None and cpu.trainer.devices == 1


# --- sweep files --------------------------------------------------------------------------------


def wandb_override_lists(sweep: dict) -> list[list[str]]:
    """Every grid point, or each distribution at its bounds, formatted as the W&B agent
    formats `${args_no_hyphens}`."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    choices = {}
    for key, spec in sweep["parameters"].items():
        if "value" in spec:
            choices[key] = [spec["value"]]
        elif "values" in spec:
            choices[key] = spec["values"]
        else:
            choices[key] = [spec["min"], spec["max"]]
    lists = []
    for combination in itertools.product(*choices.values()):
        args = {key: {"value": value} for key, value in zip(choices, combination, strict=True)}
        lists.append(create_sweep_command_args({"args": args})["args_no_hyphens"])
    return lists


@pytest.mark.parametrize("name", ["wandb_delta_grid.yaml", "wandb_lr_w0_bayes.yaml"])
def test_wandb_sweep_files_become_hydra_overrides_that_compose(name, tmp_path):
    sweep = yaml.safe_load((SWEEPS / name).read_text())
    assert sweep["command"] == ["${env}", "${interpreter}", "-m", "inr_bench.train", "${args_no_hyphens}"]
    assert sweep["method"] in ("grid", "random", "bayes") and sweep["metric"]["name"] == "final/psnr"
    lists = wandb_override_lists(sweep)
    assert len(lists) >= 2
    for overrides in lists:
        cfg = compose_config(tmp_path, overrides)
        assert cfg.logger.wandb._target_.endswith("WandbLogger")
        values = dict(item.split("=", 1) for item in overrides)
        if "delta" in values:
            assert cfg.delta.name == values["delta"]
        if "model.optimizer.lr" in values:
            assert cfg.model.optimizer.lr == pytest.approx(float(values["model.optimizer.lr"]))
            assert cfg.model.net.activation.w0 == pytest.approx(float(values["model.net.activation.w0"]))
    if sweep["method"] == "grid":
        assert sorted(sweep["parameters"]["delta"]["values"]) == sorted(DAMPINGS)


def test_damping_ablation_sweeps_every_damping(tmp_path):
    """The preset globs the delta group, so every damping of the registry is a job."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = compose_config(tmp_path, ["experiment=damping_ablation"], return_hydra_config=True)
    with initialize_config_module(config_module="inr_bench.conf", version_base="1.3"):
        parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        (override,) = parser.parse_overrides([f"delta={cfg.hydra.sweeper.params.delta}"])
        swept = list(override.sweep_string_iterator())
    assert sorted(swept) == sorted(DAMPINGS)
    for delta in swept:  # each job's config composes
        assert compose_config(tmp_path, ["experiment=damping_ablation", f"delta={delta}"]).delta.name == delta
    assert cfg.trainer.max_steps == 250 and cfg.data.name == "camera"
    script = (SWEEPS / "damping_ablation.sh").read_text()
    assert "-m experiment=damping_ablation" in script and os.access(SWEEPS / "damping_ablation.sh", os.X_OK)
    for name in ("damping_ablation.sh", "wandb_delta_grid.yaml", "wandb_lr_w0_bayes.yaml"):
        assert name in (SWEEPS / "README.md").read_text()
    assert OmegaConf.select(cfg, "hydra.callbacks.summary._target_") == "inr_bench.sweep_summary.SweepSummary"


@pytest.mark.slow
def test_optuna_search_runs_three_trials_and_optimises_the_returned_metric(tmp_path):
    """hparams_search=optuna: Hydra's Optuna sweeper runs the trials; each trial's objective is
    the metric train() returns (final/psnr), and the best one is reported."""
    sweep = tmp_path / "optuna"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "inr_bench.train",
            "-m",
            "hparams_search=optuna",
            "hydra.sweeper.n_trials=3",
            "data.size=8",
            "trainer.max_steps=3",
            "model.net.width=16",
            "save_outputs=false",
            f"hydra.sweep.dir={sweep}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", "INR_BENCH_FUSED": "0"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    values = []
    for trial in range(3):
        record = json.loads((sweep / str(trial) / "metrics.json").read_text())
        assert record["status"] == "ok"
        values.append(record["final"]["psnr"])
        overrides = (sweep / str(trial) / ".hydra" / "overrides.yaml").read_text()
        assert "model.optimizer.lr=" in overrides and "scheduler=" in overrides
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(values))
    assert set(best["best_params"]) == {"model.optimizer.lr", "model.net.activation.w0", "scheduler"}
