"""What a job of a sweep adjusts about itself before it trains: its GPU(s) and its W&B group.

Parallel local jobs (the joblib launcher) share one machine. When several GPUs are visible,
job k takes GPU k mod (number of GPUs), or the k-th block of GPUs when a job uses several,
so `n_jobs` = number of GPUs keeps every GPU busy with one job. The choice goes into
`trainer.devices` (a list of indices) rather than CUDA_VISIBLE_DEVICES: joblib reuses its
worker processes, and CUDA reads CUDA_VISIBLE_DEVICES once per process, so only the trainer's
device list is certain to change from one job to the next. SLURM and submitit's local
executor give each job its own GPUs already; a job that sees one GPU (or none) is left alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

log = logging.getLogger("inr_bench")

GPU_ACCELERATORS = ("auto", "gpu", "cuda")


def assign_devices(job_num: int, gpu_count: int, devices_per_job: int = 1) -> list[int] | None:
    """The GPU indices job `job_num` trains on, or None when there is nothing to share out
    (fewer than two slots of `devices_per_job` GPUs among `gpu_count`)."""
    if devices_per_job < 1:
        return None
    slots = gpu_count // devices_per_job
    if slots < 2:
        return None
    first = (job_num % slots) * devices_per_job
    return list(range(first, first + devices_per_job))


def visible_gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def sweep_job() -> tuple[int, str] | None:
    """(job number, sweep folder) when this process runs a job of a Hydra multirun."""
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return int(hydra_cfg.job.num), str(hydra_cfg.sweep.dir)


def sweep_group(sweep_dir: str) -> str:
    """A readable, unique name for a sweep: its folder's last two parts (date/time)."""
    return "/".join(Path(sweep_dir).parts[-2:])[-128:]


def assign_gpus(cfg: DictConfig, job_num: int, gpu_count: int) -> list[int] | None:
    """Put this job's share of the GPUs into cfg.trainer.devices (see the module docstring)."""
    trainer = cfg.trainer
    devices = trainer.get("devices")
    if str(trainer.get("accelerator", "auto")) not in GPU_ACCELERATORS or not isinstance(devices, int):
        return None  # CPU jobs, or an explicit device list chosen by the user
    assigned = assign_devices(job_num, gpu_count, devices)
    if assigned is not None:
        with open_dict(cfg):
            trainer.devices = assigned
            if trainer.get("accelerator", "auto") == "auto":
                trainer.accelerator = "gpu"
        log.info("job %d of the sweep trains on GPU %s", job_num, ",".join(map(str, assigned)))
    return assigned


def tag_wandb_run(cfg: DictConfig) -> None:
    """Tag a W&B run with its damping, "delta:<name>", when its model has one."""
    wandb_node = (cfg.get("logger") or {}).get("wandb")
    if wandb_node is None:
        return
    damping = cfg.model.get("damping")
    tags = [tag for tag in wandb_node.get("tags") or [] if not str(tag).startswith("delta:")]
    with open_dict(cfg):
        wandb_node.tags = [*tags, *([f"delta:{damping}"] if damping else [])]


def name_wandb_run(cfg: DictConfig, job_num: int, sweep_dir: str) -> None:
    """W&B runs of one sweep share a group (the sweep folder) and name their job number."""
    wandb_node = (cfg.get("logger") or {}).get("wandb")
    if wandb_node is None:
        return
    with open_dict(cfg):
        if wandb_node.get("group") is None:
            wandb_node.group = sweep_group(sweep_dir)
        wandb_node.name = f"{wandb_node.get('name') or 'run'}-job{job_num}"


def prepare_job(cfg: DictConfig) -> None:
    """Called at the start of train(): W&B tags, and for a sweep job its GPU(s) and W&B group."""
    tag_wandb_run(cfg)
    job = sweep_job()
    if job is None:
        return
    job_num, sweep_dir = job
    gpu_count = visible_gpu_count() if str(cfg.trainer.get("accelerator", "auto")) in GPU_ACCELERATORS else 0
    assign_gpus(cfg, job_num, gpu_count)
    name_wandb_run(cfg, job_num, sweep_dir)
