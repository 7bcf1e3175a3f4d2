"""Fit one signal: `python -m inr_bench.train [overrides]` (Hydra), or `train(cfg)` in code."""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from inr_bench.callbacks import EvaluationCallback
from inr_bench.config import CONFIG_DIR
from inr_bench.errors import InrBenchError
from inr_bench.fitting import INRFitModule
from inr_bench.results import RunRecord, write_text_atomic
from inr_bench.visualize import plot_loss_curve

log = logging.getLogger("inr_bench")


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
    if any(int(step) < 1 for step in cfg.eval_steps):
        raise InrBenchError(f"eval_steps must be positive step numbers, got {list(cfg.eval_steps)}.")


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


def save_pictures(record: RunRecord, module: INRFitModule, datamodule, out_dir: Path, eval_chunk_size) -> None:
    pred = module.predict_points(datamodule.coords, eval_chunk_size)
    datamodule.save_outputs(pred, out_dir, record.evals[-1] if record.evals else None)
    if record.loss_curve:
        steps, losses = zip(*record.loss_curve)
        plot_loss_curve(list(steps), list(losses), out_dir / "loss_curve.png", f"{record.model} on {record.data}")


def train(cfg: DictConfig) -> dict:
    """Fit the configured network to the configured signal; returns the metrics.json record.

    Writes into cfg.paths.output_dir. Raises InrBenchError for bad input and
    NonFiniteLossError (after writing status "failed") when the loss diverges."""
    check_config(cfg)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    configure_precision(bool(cfg.tf32))
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    net = instantiate(cfg.model.net, in_features=datamodule.coord_dim, out_features=datamodule.out_features)
    module = INRFitModule(net=net, optimizer=instantiate(cfg.model.optimizer), chunk_size=datamodule.chunk_size)
    record = build_record(cfg, datamodule, net)
    evaluation = EvaluationCallback(
        record, out_dir, eval_schedule(cfg.eval_steps, cfg.trainer.max_steps), cfg.rho_variant, cfg.eval_chunk_size
    )
    callbacks = [instantiate(node) for node in (cfg.get("callbacks") or {}).values()] + [evaluation]
    loggers = [instantiate(node) for node in (cfg.get("logger") or {}).values()]
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    ckpt_path = resolve_resume(cfg, out_dir)

    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        if trainer.interrupted:
            raise InrBenchError(f"The run was interrupted; resume it with `hydra.run.dir={out_dir} resume=last`.")
    except BaseException as error:
        record.status, record.reason = "failed", f"{type(error).__name__}: {error}"
        if trainer.is_global_zero:
            record.write(out_dir)
        raise
    finally:
        for logger in loggers:
            if hasattr(logger, "experiment") and type(logger).__name__ == "WandbLogger":
                import wandb

                wandb.finish(exit_code=0 if record.status != "failed" else 1)

    if trainer.is_global_zero:
        if cfg.task.get("_target_"):
            task = instantiate(cfg.task)
            record.task = task.run(module=module, datamodule=datamodule, out_dir=out_dir, cfg=cfg)
        if cfg.save_outputs:
            save_pictures(record, module, datamodule, out_dir, cfg.eval_chunk_size)
        record.status = "ok"
        record.write(out_dir)
    return record.as_json()


def _is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point: returns the metric a sweeper optimises. In a multirun a failed job
    is reported and the sweep goes on; a single run exits non-zero."""
    try:
        result = train(cfg)
    except (InrBenchError, KeyboardInterrupt) as error:
        print(f"\n[inr_bench] error: {error}", file=sys.stderr)
        if _is_multirun():
            return math.nan
        sys.exit(2 if isinstance(error, InrBenchError) else 130)
    final = result.get("final") or {}
    value = final.get(cfg.optimized_metric)
    print(f"[inr_bench] done: {Path(cfg.paths.output_dir) / 'metrics.json'}  final {final}")
    return value


if __name__ == "__main__":
    os.environ.setdefault("WANDB_MODE", "offline")
    main()
