"""All metrics of one reconstructed signal, as the plain floats that go into metrics.json."""

from __future__ import annotations

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from inr_bench.metrics.psnr import psnr, psnr_paper_convention
from inr_bench.metrics.rho_ag import rho_ag


def _ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float) -> float | None:
    """Mean 2-D SSIM over images (H, W, C) or video frames (T, H, W, C); None for audio."""
    if pred.ndim == 3:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
    if pred.ndim != 4:
        return None
    # (B, H, W, C) -> (B, C, H, W); the Gaussian window must fit inside the picture.
    pred, target = pred.permute(0, 3, 1, 2).float(), target.permute(0, 3, 1, 2).float()
    side = min(pred.shape[-2:])
    kernel = min(11, side if side % 2 else side - 1)
    if kernel < 3:
        return None
    value = structural_similarity_index_measure(pred, target, data_range=data_range, kernel_size=kernel)
    return float(value)


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
        "rho_ag": float(rho_ag(pred, target, len(signal_shape), rho_variant)),
    }
