"""rho_AG (SPDER paper, eq. 5): cosine similarity of the amplitude spectra |FFT| of the
prediction A and the ground truth G, over the signal's axes (1-D audio, 2-D images, 3-D video).

variant="reference" (default): plain cosine of the magnitudes, DC bin included, no mean
removal, as the authors' code computed it. variant="centered": magnitudes minus their mean
(a Pearson correlation), one reading of the paper's word "zero-centered"; it can differ by
0.1-0.2. Tables must name the variant.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

VARIANTS = ("reference", "centered")


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"rho_AG variant must be one of {VARIANTS}, got {variant!r}")


def rho_ag(
    pred: torch.Tensor, target: torch.Tensor, signal_ndim: int, variant: str = "reference"
) -> torch.Tensor:
    """Per-signal rho_AG of channels-last tensors shaped (*batch, *signal_shape, channels).

    The FFT runs over the `signal_ndim` signal axes of each channel; the cosine is taken over
    all bins of all channels together. Returns a tensor of shape `batch`.
    """
    _check_variant(variant)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    fft_dims = tuple(range(-signal_ndim - 1, -1))
    amp_pred = torch.fft.fftn(pred.double(), dim=fft_dims).abs()
    amp_true = torch.fft.fftn(target.double(), dim=fft_dims).abs()
    batch_shape = pred.shape[: pred.ndim - signal_ndim - 1]
    amp_pred = amp_pred.reshape(*batch_shape, -1)
    amp_true = amp_true.reshape(*batch_shape, -1)
    if variant == "centered":
        amp_pred = amp_pred - amp_pred.mean(dim=-1, keepdim=True)
        amp_true = amp_true - amp_true.mean(dim=-1, keepdim=True)
    dot = (amp_pred * amp_true).sum(-1)
    norms = amp_pred.norm(dim=-1) * amp_true.norm(dim=-1)
    return (dot / norms).to(pred.dtype if pred.is_floating_point() else torch.float32)


class RhoAG(Metric):
    """Mean rho_AG over the signals passed to `update`.

    Each `update` takes whole signals, channels-last: (*signal_shape, C) or (B, *signal_shape, C).
    The states are a sum and a count reduced by summation, so the mean is exact under DDP.
    """

    higher_is_better = True
    is_differentiable = False
    full_state_update = False

    def __init__(self, signal_ndim: int, variant: str = "reference", **kwargs) -> None:
        super().__init__(**kwargs)
        _check_variant(variant)
        self.signal_ndim = signal_ndim
        self.variant = variant
        self.add_state("rho_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        if preds.ndim == self.signal_ndim + 1:
            preds, target = preds.unsqueeze(0), target.unsqueeze(0)
        if preds.ndim != self.signal_ndim + 2:
            raise ValueError(
                f"RhoAG(signal_ndim={self.signal_ndim}) expects (B, *signal_shape, C) tensors, "
                f"got shape {tuple(preds.shape)}"
            )
        values = rho_ag(preds, target, self.signal_ndim, self.variant)
        self.rho_sum += values.double().sum()
        self.count += values.numel()

    def compute(self) -> torch.Tensor:
        return self.rho_sum / self.count
