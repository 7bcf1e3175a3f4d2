"""All metrics of one reconstructed signal, as the plain floats that go into metrics.json."""

from __future__ import annotations

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from inr_bench.metrics.psnr import psnr, psnr_paper_convention
from inr_bench.metrics.rho_ag import RhoAG

# SSIM's window (Wang et al. 2004): Gaussian, sigma 1.5, 11 taps. torchmetrics reflect-pads the
# picture by half the window (5 pixels) and averages the whole SSIM map, borders included (so it
# reads a little above scikit-image's default, which averages the interior only); the reflection
# needs a side of at least 6 pixels.
SSIM_SIGMA = 1.5
SSIM_MIN_SIDE = 6


def _ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float) -> float | None:
    """Mean 2-D SSIM over images (H, W, C) or video frames (T, H, W, C); None for audio and
    for pictures smaller than SSIM_MIN_SIDE."""
    if pred.ndim == 3:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
    if pred.ndim != 4 or min(pred.shape[1:3]) < SSIM_MIN_SIDE:
        return None
    # (B, H, W, C) -> (B, C, H, W)
    pred, target = pred.permute(0, 3, 1, 2).float(), target.permute(0, 3, 1, 2).float()
    value = structural_similarity_index_measure(pred, target, data_range=data_range, sigma=SSIM_SIGMA)
    return float(value)


def evaluation_steps(eval_steps, max_steps: int) -> list[int]:
    """The optimiser steps after which a fit is evaluated: those of `eval_steps` within the run,
    and always the last one."""
    return sorted({int(step) for step in eval_steps if 0 < int(step) <= max_steps} | {int(max_steps)})


def _rho_ag(pred: torch.Tensor, target: torch.Tensor, signal_ndim: int, variant: str) -> float:
    metric = RhoAG(signal_ndim, variant).to(pred.device)
    metric.update(pred, target)
    return float(metric.compute())


def evaluate_signal(
    pred: torch.Tensor,
    target: torch.Tensor,
    signal_shape: tuple[int, ...],
    data_range: float,
    rho_variant: str = "reference",
) -> dict[str, float | None]:
    """loss (MSE), PSNR (standard and the paper's labelled convention), SSIM and rho_AG of
    one signal; `pred`/`target` are (N, C) values in row-major order of `signal_shape`."""
    pred = pred.detach().reshape(*signal_shape, -1)
    target = target.detach().reshape(*signal_shape, -1).to(pred.device)
    mse = float(torch.mean((pred.double() - target.double()) ** 2))
    return {
        "loss": mse,
        "psnr": psnr(mse, data_range),
        "psnr_paper": psnr_paper_convention(mse, data_range),
        "ssim": _ssim(pred, target, data_range),
        "rho_ag": _rho_ag(pred, target, len(signal_shape), rho_variant),
    }
