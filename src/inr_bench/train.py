"""Fit one signal: `python -m inr_bench.train [overrides]` (Hydra), or `train(cfg)` in code.

`train(cfg)` builds the run (data, task, module, callbacks, loggers, trainer), fits, and returns
the run's record; `optimized_metric(record, cfg.optimized_metric)` is what a sweeper optimises. What a run
writes is written by its callbacks as it goes (inr_bench/callbacks): metrics.json after every
evaluation and at the end, the task's results, the pictures, the loggers' results. This module
only turns a failure into what the user reads (and records it).
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import signal
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from inr_bench.atomic import write_text_atomic
from inr_bench.callbacks import (
    EvaluationCallback,
    LoggerResultsCallback,
    OutputsCallback,
    RecordCallback,
    RestoreBestCallback,
    TaskCallback,
    finish_run,
)
from inr_bench.checkpoint_io import AtomicCheckpointIO
from inr_bench.config import CONFIG_MODULE
from inr_bench.config.checks import check_config, warn_unused_delta
from inr_bench.errors import InrBenchError, NonFiniteLossError
from inr_bench.fitting.module import INRFitModule
from inr_bench.metrics import evaluation_steps
from inr_bench.nn.build import instantiate_node
from inr_bench.record import RunRecord
from inr_bench.report import run_report
from inr_bench.scaleout import prepare_job
from inr_bench.sweep_summary import mark_job_failed

log = logging.getLogger("inr_bench")


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in str(record.msg)


def quiet_library_noise() -> None:
    """Silence messages that tell a researcher nothing about the run: Lightning's product tips,
    a deprecation inside Lightning, and a checkpoint note that does not apply (we save the
    state after each full-batch step on purpose: that is the state a resume continues from)."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdverts())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r".*ModelCheckpoint with manual optimization")
    # Every batch is the same whole signal, so restarting the data loader on resume loses nothing.
    warnings.filterwarnings(
        "ignore", message=r".*resuming from a checkpoint that ended before the epoch ended"
    )


def configure_precision(tf32: bool) -> None:
    """float32 matrix products stay exact unless TF32 is asked for (it caps the PSNR)."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")


def check_checkpoint(path: str, module: torch.nn.Module) -> None:
    """A resume checkpoint must load and fit the network: checked before anything is written."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        saved = checkpoint["state_dict"]
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same user problem
        raise InrBenchError(
            f"Cannot resume from {path}: the checkpoint cannot be read ({type(error).__name__}: {error}). "
            f"Resume from another checkpoint (resume=PATH.ckpt) or start the run afresh without `resume`."
        ) from error
    expected = module.state_dict()
    for name, tensor in expected.items():
        if name not in saved or tuple(saved[name].shape) != tuple(tensor.shape):
            found = tuple(saved[name].shape) if name in saved else "missing"
            raise InrBenchError(
                f"Cannot resume from {path}: it was saved by a different network ({name}: {found} in the "
                f"checkpoint, {tuple(tensor.shape)} now). Resume with the run's own settings (model, delta, "
                f"model.net.*, data); the run's config.yaml lists them."
            )


def resolve_resume(cfg: DictConfig, out_dir: Path) -> str | None:
    if not cfg.get("resume"):
        return None
    path = out_dir / "checkpoints" / "last.ckpt" if cfg.resume == "last" else Path(cfg.resume)
    if not path.is_file():
        raise InrBenchError(
            f"resume={cfg.resume}: no checkpoint at {path}. Resume with the same output folder "
            f"(hydra.run.dir=<the run's folder> resume=last) or give a checkpoint file (resume=PATH.ckpt)."
        )
    return str(path)


@dataclass
class Run:
    """Everything one fit is made of, built from the config."""

    datamodule: L.LightningDataModule
    module: INRFitModule
    record: RunRecord
    trainer: L.Trainer
    out_dir: Path


def build_run(cfg: DictConfig) -> Run:
    """Data (and the task's choice of training points), the module, the record, the callbacks
    that write the run's results, the loggers and the trainer, in that order (the seed is set
    before: the data and the network draw from it in this order)."""
    out_dir = Path(cfg.paths.output_dir)
    datamodule = instantiate_node(cfg.data, "data")
    datamodule.setup("fit")
    task = instantiate_node(cfg.task, "task")
    task.prepare(datamodule)  # a task may restrict the training points (audio/frame interpolation)
    module = INRFitModule(
        cfg,
        datamodule.signal_shape,
        datamodule.out_features,
        coord_scale=datamodule.coord_scale,
        chunk_size=datamodule.chunk_size,
    )
    record = RunRecord.for_run(cfg, datamodule, sum(p.numel() for p in module.net.parameters()))
    run_callbacks = [
        EvaluationCallback(
            record,
            evaluation_steps(cfg.eval_steps, cfg.trainer.max_steps),
            cfg.rho_variant,
            cfg.eval_chunk_size,
        ),
        *([RestoreBestCallback(record, cfg.rho_variant, cfg.eval_chunk_size)] if cfg.restore_best else []),
        TaskCallback(task, record, out_dir, cfg.rho_variant),
        *([OutputsCallback(record, out_dir, cfg.eval_chunk_size)] if cfg.save_outputs else []),
        RecordCallback(record, out_dir),
        LoggerResultsCallback(record, out_dir),
    ]
    # An entry set to null (callbacks.progress_bar=null) is switched off.
    callbacks = [
        instantiate_node(node, f"callbacks.{name}")
        for name, node in (cfg.get("callbacks") or {}).items()
        if node
    ]
    loggers = [
        instantiate_node(node, f"logger.{name}") for name, node in (cfg.get("logger") or {}).items() if node
    ]
    trainer = instantiate_node(
        cfg.trainer,
        "trainer",
        callbacks=callbacks + run_callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],  # last.ckpt is always whole, even after a SIGKILL
    )
    return Run(datamodule, module, record, trainer, out_dir)


def train(cfg: DictConfig) -> dict:
    """Fit the configured network to the configured signal; returns the metrics.json record.

    Writes into cfg.paths.output_dir. Raises InrBenchError for bad input and
    NonFiniteLossError (after writing status "failed") when the loss diverges."""
    check_config(cfg)
    prepare_job(cfg)  # a sweep job: its GPU(s) and W&B group
    quiet_library_noise()
    logging.captureWarnings(True)  # the run's warnings into train.log too
    Path(cfg.paths.output_dir).mkdir(parents=True, exist_ok=True)
    configure_precision(bool(cfg.tf32))
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    run = build_run(cfg)
    ckpt_path = resolve_resume(cfg, run.out_dir)
    if ckpt_path is not None:
        check_checkpoint(ckpt_path, run.module)
    # Written only now: a rerun with a bad input leaves the folder's earlier config.yaml alone.
    write_text_atomic(run.out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    try:
        run.trainer.fit(run.module, datamodule=run.datamodule, ckpt_path=ckpt_path)
        if run.trainer.interrupted:
            raise InrBenchError(
                f"The run was interrupted; resume it with `hydra.run.dir={run.out_dir} resume=last`."
            )
    except BaseException as error:
        raise record_failure(cfg, run, error) from None
    finish_run(failed=False)
    return run.record.as_json()


def record_failure(cfg: DictConfig, run: Run, error: BaseException) -> BaseException:
    """Write the failed record, close W&B, and return the error the user should see."""
    # Lightning turns Ctrl+C (SIGINT) into SystemExit(1) after a graceful shutdown.
    interrupted = isinstance(error, (KeyboardInterrupt, SystemExit))
    told = error
    if interrupted:
        told = KeyboardInterrupt(interruption_message(cfg, run))
    elif isinstance(error, NonFiniteLossError):
        told = NonFiniteLossError(f"{error} {what_is_kept(run.out_dir, run.record)}")
    run.record.fail(told)
    if run.trainer.is_global_zero:
        run.record.write(run.out_dir)
    finish_run(failed=True)
    if interrupted:
        restore_sigint()
    if told is not error:
        told.__cause__ = None
        return told
    return error


def what_is_kept(out_dir: Path, record: RunRecord) -> str:
    """What a stopped run leaves behind, said in its message."""
    evals = (
        f"metrics.json with the evaluations up to step {record.evals[-1]['step']}"
        if record.evals
        else "metrics.json (no evaluation had been made yet)"
    )
    checkpoint = (
        "checkpoints/last.ckpt with the last saved state"
        if (out_dir / "checkpoints" / "last.ckpt").is_file()
        else "no checkpoint (none saved yet: one is saved every callbacks.checkpoint.every_n_train_steps steps)"
    )
    return f"Kept in {out_dir}: {evals}; {checkpoint}."


def interruption_message(cfg: DictConfig, run: Run) -> str:
    """What an interrupted run says: where it stopped, what is kept and the resume command."""
    overrides = []
    if HydraConfig.initialized():
        overrides = [
            o for o in HydraConfig.get().overrides.task if not o.startswith(("hydra.run.dir=", "resume="))
        ]
    command = "python -m inr_bench.train " + shlex.join(
        [*overrides, f"hydra.run.dir={run.out_dir}", "resume=last"]
    )
    then = (
        f"Resume with: {command}"
        if (run.out_dir / "checkpoints" / "last.ckpt").is_file()
        else "Start the run again."
    )
    return (
        f"Interrupted (SIGINT / Ctrl+C) at step {run.trainer.global_step} of {cfg.trainer.max_steps}. "
        f"{what_is_kept(run.out_dir, run.record)} {then}"
    )


def restore_sigint() -> None:
    """Lightning ignores SIGINT after a Ctrl+C; give Ctrl+C back its usual meaning."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread
        pass


def optimized_metric(record: dict, name: str) -> float | None:
    """The value a sweeper optimises: "final/<key>" (the record's final evaluation), "best/loss",
    "best/rho_ag", "best/psnr" (the PSNR of the lowest loss); a bare key means "final/<key>"."""
    from inr_bench.metrics import psnr

    part, _, key = name.rpartition("/")
    if part == "best":
        best = record.get("best") or {}
        if key == "psnr":
            loss = best.get("loss")
            return psnr(loss, float(record["info"].get("data_range", 2.0))) if loss is not None else None
        return best.get(key)
    if part not in ("", "final"):
        raise InrBenchError(f"optimized_metric={name}: give final/<key> or best/<key> (e.g. final/psnr).")
    return (record.get("final") or {}).get(key)


def _is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point: returns the metric a sweeper optimises. In a multirun a failed job
    is reported and the sweep goes on; a single run exits non-zero."""
    if HydraConfig.initialized():
        warn_unused_delta(cfg, HydraConfig.get().overrides.task)
    try:
        result = train(cfg)
    except (InrBenchError, KeyboardInterrupt) as error:
        print(f"\n[inr_bench] error: {error or 'interrupted (Ctrl+C)'}", file=sys.stderr)
        if _is_multirun():
            mark_job_failed(cfg, error)
            if not isinstance(error, KeyboardInterrupt):  # Ctrl+C stops the whole sweep
                return math.nan
        sys.exit(2 if isinstance(error, InrBenchError) else 130)
    except Exception as error:
        if not _is_multirun():
            raise
        # One broken job must not end a sweep: Hydra would re-raise it and skip the summary.
        log.exception("[inr_bench] job failed")
        mark_job_failed(cfg, error)
        return math.nan
    # The report goes through logging: on the console and into the run folder's train.log.
    log.info(run_report(result, cfg.paths.output_dir))
    return optimized_metric(result, cfg.optimized_metric)


def cli() -> None:
    """The command line: Hydra's `main`, plus a "did you mean" when Hydra refuses an override."""
    from inr_bench.config.hints import main_with_hints

    main_with_hints(main, "inr_bench")


if __name__ == "__main__":
    if "WANDB_SWEEP_ID" not in os.environ:  # a W&B sweep agent's runs must report online
        os.environ.setdefault("WANDB_MODE", "offline")
    if os.environ.get("WANDB_MODE") == "offline":
        # W&B's own lines say nothing a user needs offline; the run's report says where its files are
        os.environ.setdefault("WANDB_SILENT", "true")
    # Call the importable module's cli (and its main): launchers that pickle the task function (joblib,
    # submitit) then refer to inr_bench.train.main instead of pickling __main__ by value.
    from inr_bench.train import cli as importable_cli

    importable_cli()
