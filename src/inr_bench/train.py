"""Fit one signal: `python -m inr_bench.train [overrides]` (Hydra), or `train(cfg)` in code."""

from __future__ import annotations

import logging
import math
import os
import shlex
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from inr_bench.callbacks import EvaluationCallback
from inr_bench.checkpoint_io import AtomicCheckpointIO
from inr_bench.config import CONFIG_DIR
from inr_bench.errors import InrBenchError, NonFiniteLossError
from inr_bench.fitting import INRFitModule
from inr_bench.results import RunRecord, write_text_atomic
from inr_bench.scaleout import prepare_job
from inr_bench.sweep_summary import mark_job_failed
from inr_bench.visualize import plot_loss_curve
from inr_bench.wandb_run import finish_run, log_results

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


def eval_schedule(eval_steps, max_steps: int) -> list[int]:
    steps = sorted({int(step) for step in eval_steps if 0 < int(step) <= max_steps} | {max_steps})
    return steps


def check_config(cfg: DictConfig) -> None:
    """Catch nonsensical numbers before anything is loaded or trained."""
    max_steps = cfg.trainer.get("max_steps")
    if not isinstance(max_steps, int) or max_steps < 1:
        raise InrBenchError(f"trainer.max_steps must be a positive number of steps, got {max_steps!r}.")
    eval_steps = cfg.get("eval_steps")
    if not isinstance(eval_steps, Sequence) or not all(_is_positive_int(step) for step in eval_steps):
        raise InrBenchError(
            f"eval_steps must be a list of positive step numbers such as [25,100,500], got {eval_steps!r}."
        )
    if cfg.get("eval_chunk_size") is not None and not _is_positive_int(cfg.eval_chunk_size):
        raise InrBenchError(
            f"eval_chunk_size must be a positive number of points or null, got {cfg.eval_chunk_size!r}."
        )
    if isinstance(cfg.get("seed"), bool) or not isinstance(cfg.get("seed"), int):
        raise InrBenchError(f"seed must be a whole number, got {cfg.get('seed')!r}.")
    lr = OmegaConf.select(cfg, "model.optimizer.lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf):
        raise InrBenchError(f"model.optimizer.lr must be a positive number, got {lr!r}.")


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def build(node: DictConfig, key: str, **kwargs):
    """instantiate(node), with a bad value or key under `key` reported as an InrBenchError."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        while cause is not None and not isinstance(cause, InrBenchError):
            cause = cause.__cause__
        if cause is not None:  # the component's own clear message
            raise cause from error
        raise InrBenchError(
            f"Could not build `{key}` from the config: {error.__cause__ or error}. Check the values under "
            f"`{key}` (`python -m inr_bench.train --cfg job` prints them all)."
        ) from error


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


def build_record(cfg: DictConfig, datamodule, net: torch.nn.Module) -> RunRecord:
    uses_delta = bool(cfg.model.get("uses_delta", False))
    return RunRecord(
        model=cfg.model.name,
        delta=cfg.model.delta.name if uses_delta and "delta" in cfg.model else None,
        data=cfg.data.name,
        info={
            "signal_kind": datamodule.kind,
            "signal_shape": list(datamodule.signal_shape),
            "channels": datamodule.out_features,
            "source": getattr(datamodule, "source", None),
            "parameters": sum(p.numel() for p in net.parameters()),
            "max_steps": cfg.trainer.max_steps,
            "seed": cfg.seed,
            "psnr_convention": f"10*log10(range^2/MSE), range={datamodule.data_range:g} (values in [-1, 1])",
            "psnr_paper_convention": "20*log10(255/MSE_255), the SPDER reference code's, for comparison only",
            "rho_ag_variant": cfg.rho_variant,
            "loss": "MSE over all values",
        },
    )


def save_pictures(
    record: RunRecord, module: INRFitModule, datamodule, out_dir: Path, eval_chunk_size
) -> None:
    pred = module.predict_points(datamodule.coords, eval_chunk_size)
    datamodule.save_outputs(pred, out_dir, record.evals[-1] if record.evals else None)
    if record.loss_curve:
        steps, losses = zip(*record.loss_curve, strict=True)
        plot_loss_curve(
            list(steps), list(losses), out_dir / "loss_curve.png", f"{record.model} on {record.data}"
        )


def train(cfg: DictConfig) -> dict:
    """Fit the configured network to the configured signal; returns the metrics.json record.

    Writes into cfg.paths.output_dir. Raises InrBenchError for bad input and
    NonFiniteLossError (after writing status "failed") when the loss diverges."""
    check_config(cfg)
    prepare_job(cfg)  # a sweep job: its GPU(s) and W&B group
    quiet_library_noise()
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    configure_precision(bool(cfg.tf32))
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = build(cfg.data, "data")
    datamodule.setup("fit")
    # A downstream task may restrict the training points first (audio/frame interpolation).
    task = build(cfg.task, "task") if cfg.task.get("_target_") else None
    if task is not None and hasattr(task, "prepare"):
        task.prepare(datamodule)
    net = build(
        cfg.model.net, "model.net", in_features=datamodule.coord_dim, out_features=datamodule.out_features
    )
    module = INRFitModule(
        net=net, optimizer=build(cfg.model.optimizer, "model.optimizer"), chunk_size=datamodule.chunk_size
    )
    record = build_record(cfg, datamodule, net)
    if getattr(datamodule, "subgrid", None) is not None:  # the evals score what was trained on
        axis, stride = datamodule.subgrid
        record.info["evals_scope"] = (
            f"training points only: every {stride}th sample along axis {axis} of the whole signal "
            f"{list(datamodule.full_signal_shape)}; the held-out points are scored under 'task'"
        )
    evaluation = EvaluationCallback(
        record,
        out_dir,
        eval_schedule(cfg.eval_steps, cfg.trainer.max_steps),
        cfg.rho_variant,
        cfg.eval_chunk_size,
    )
    callbacks = [build(node, f"callbacks.{name}") for name, node in (cfg.get("callbacks") or {}).items()]
    loggers = [build(node, f"logger.{name}") for name, node in (cfg.get("logger") or {}).items()]
    trainer: L.Trainer = build(
        cfg.trainer,
        "trainer",
        callbacks=callbacks + [evaluation],
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],  # last.ckpt is always whole, even after a SIGKILL
    )
    ckpt_path = resolve_resume(cfg, out_dir)
    if ckpt_path is not None:
        check_checkpoint(ckpt_path, module)
    # Written only now: a rerun with a bad input leaves the folder's earlier config.yaml alone.
    write_text_atomic(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        if trainer.interrupted:
            raise InrBenchError(
                f"The run was interrupted; resume it with `hydra.run.dir={out_dir} resume=last`."
            )
    except BaseException as error:
        # Lightning turns Ctrl+C (SIGINT) into SystemExit(1) after a graceful shutdown.
        interrupted = isinstance(error, (KeyboardInterrupt, SystemExit))
        told = error
        if interrupted:
            told = KeyboardInterrupt(interruption_message(cfg, trainer, out_dir, record))
        elif isinstance(error, NonFiniteLossError):
            told = NonFiniteLossError(f"{error} {what_is_kept(out_dir, record)}")
        record.status, record.reason = "failed", f"{type(told).__name__}: {told}"
        if trainer.is_global_zero:
            record.write(out_dir)
        finish_run(failed=True)
        if interrupted:
            restore_sigint()
        if told is not error:
            raise told from None
        raise

    if trainer.is_global_zero:
        if task is not None:
            record.task = task.run(module=module, datamodule=datamodule, out_dir=out_dir, cfg=cfg)
        if cfg.save_outputs:
            save_pictures(record, module, datamodule, out_dir, cfg.eval_chunk_size)
        record.status = "ok"
        record.write(out_dir)
        log_results(loggers, record, out_dir)
    finish_run(failed=False)
    return record.as_json()


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


def interruption_message(cfg: DictConfig, trainer: L.Trainer, out_dir: Path, record: RunRecord) -> str:
    """What an interrupted run says: where it stopped, what is kept and the resume command."""
    overrides = []
    if HydraConfig.initialized():
        overrides = [
            o for o in HydraConfig.get().overrides.task if not o.startswith(("hydra.run.dir=", "resume="))
        ]
    command = "python -m inr_bench.train " + shlex.join(
        [*overrides, f"hydra.run.dir={out_dir}", "resume=last"]
    )
    then = (
        f"Resume with: {command}"
        if (out_dir / "checkpoints" / "last.ckpt").is_file()
        else "Start the run again."
    )
    return (
        f"Interrupted (SIGINT / Ctrl+C) at step {trainer.global_step} of {cfg.trainer.max_steps}. "
        f"{what_is_kept(out_dir, record)} {then}"
    )


def restore_sigint() -> None:
    """Lightning ignores SIGINT after a Ctrl+C; give Ctrl+C back its usual meaning."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread
        pass


def _is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point: returns the metric a sweeper optimises. In a multirun a failed job
    is reported and the sweep goes on; a single run exits non-zero."""
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
    final = result.get("final") or {}
    value = final.get(cfg.optimized_metric)
    print(f"[inr_bench] done: {Path(cfg.paths.output_dir) / 'metrics.json'}  final {final}")
    return value


def cli() -> None:
    """The command line: Hydra's `main`, plus a "did you mean" when Hydra refuses an override."""
    try:
        main()
    except SystemExit as exit_:
        if exit_.code == 1:  # Hydra's exit for a command line it cannot compose
            from inr_bench.config_hints import explain_override_error

            hint = explain_override_error(sys.argv[1:])
            if hint:
                print(f"[inr_bench] error: {hint}", file=sys.stderr)
        raise


if __name__ == "__main__":
    if "WANDB_SWEEP_ID" not in os.environ:  # a W&B sweep agent's runs must report online
        os.environ.setdefault("WANDB_MODE", "offline")
    # Call the importable module's cli (and its main): launchers that pickle the task function (joblib,
    # submitit) then refer to inr_bench.train.main instead of pickling __main__ by value.
    from inr_bench.train import cli as importable_cli

    importable_cli()
