"""Signal-quality metrics: PSNR (both conventions), SSIM and the spectral similarity rho_AG."""

from inr_bench.metrics.evaluate import evaluate_signal, evaluation_steps
from inr_bench.metrics.psnr import psnr, psnr_paper_convention
from inr_bench.metrics.rho_ag import RhoAG, rho_ag

__all__ = ["evaluate_signal", "evaluation_steps", "psnr", "psnr_paper_convention", "RhoAG", "rho_ag"]
