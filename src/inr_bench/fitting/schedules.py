"""Learning-rate schedules beyond torch's own, stepped once per optimiser step.

The `scheduler` config group (conf/scheduler/) names torch's schedulers where one fits
(CosineAnnealingLR, StepLR) and these where none does. Each is a `LambdaLR`, so its state is a
step count that Lightning saves in the checkpoint: a resumed run continues the same schedule.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def exponential_decay(
    optimizer: torch.optim.Optimizer, total_steps: int, final_factor: float = 0.1
) -> LambdaLR:
    """lr x final_factor ** (step / total_steps): a smooth decay to `final_factor` x lr at the
    last step, held after it. WIRE's released code (wire_image_denoise.py and the others) decays
    Adam's rate this way with final_factor 0.1: `LambdaLR(optim, lambda x: 0.1 ** min(x / niters, 1))`."""
    if total_steps < 1 or not final_factor > 0:
        raise ValueError(f"need total_steps >= 1 and final_factor > 0, got {total_steps}, {final_factor}")
    return LambdaLR(optimizer, lambda step: final_factor ** min(step / total_steps, 1.0))


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int = 0,
    decay_start: int | None = None,
    final_factor: float = 0.0,
) -> LambdaLR:
    """Linear warm-up from lr / warmup_steps to lr over `warmup_steps`, lr held until
    `decay_start` (default: right after the warm-up), then a half cosine down to
    final_factor x lr at `total_steps`. A late `decay_start` keeps the full rate while the fit
    still has far to go and decays only near the end."""
    decay_start = warmup_steps if decay_start is None else decay_start
    if not 0 <= warmup_steps <= decay_start <= total_steps or total_steps < 1:
        raise ValueError(
            "need 0 <= warmup_steps <= decay_start <= total_steps and total_steps >= 1, got "
            f"{warmup_steps}, {decay_start}, {total_steps}"
        )

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if step < decay_start or total_steps == decay_start:
            return 1.0
        progress = min((step - decay_start) / (total_steps - decay_start), 1.0)
        return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
