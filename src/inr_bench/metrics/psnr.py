"""PSNR in the standard convention, and in the SPDER reference code's (inflated) one."""

from __future__ import annotations

import math


def psnr(mse: float, data_range: float) -> float:
    """10*log10(data_range^2 / MSE): the standard PSNR; data_range is the value range's
    peak-to-peak (2 for values in [-1, 1], so PSNR = 10*log10(4/MSE))."""
    if mse <= 0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def psnr_paper_convention(mse: float, data_range: float) -> float:
    """The SPDER reference helper's formula, 20*log10(255 / MSE_255), with MSE_255 the MSE
    after mapping the value range onto [0, 255]. It divides by the MSE instead of its square
    root, which inflates good fits (a true 66 dB reads about 84 dB); use it only to compare
    with the paper's tables, always labelled as such."""
    mse_255 = mse * (255.0 / data_range) ** 2
    if mse_255 <= 0:
        return math.inf
    return 20.0 * math.log10(255.0 / mse_255)
