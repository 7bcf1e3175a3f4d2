"""Fixed (non-learned) input encodings of the SPDER baselines: NeRF positional encoding and
Gaussian Fourier features. The learned multiresolution hash encoding lives in `hash_grid.py`.

Each encoding maps coordinates (N, in_features) to features (N, out_features) and exposes
`out_features`, so `CoordinateMLP(encoding=...)` can size its first layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class NerfPositionalEncoding(nn.Module):
    """NeRF's positional encoding: sin(2^k pi x), cos(2^k pi x) for k = 0 .. L-1, per coordinate.

    Mildenhall et al. 2020 (NeRF, Eq. 4): gamma(p) = (sin(2^0 pi p), cos(2^0 pi p), ...,
    sin(2^(L-1) pi p), cos(2^(L-1) pi p)), applied to each coordinate normalised to [-1, 1];
    L = 10 for positions (NeRF Sec. 5.1) is the default here. The SPDER paper (Sec. 4.1, Eq. 7)
    appends these bands to the input and names neither L nor the frequencies; REFERENCE.md fixes
    the frequencies to 2^k pi. (NeRF's released code drops the pi; we keep the paper's formula.)

    Output layout: [x (if include_input), sin(2^0 pi x), cos(2^0 pi x), sin(2^1 pi x), ...],
    each block `in_features` wide, so out_features = in_features * (include_input + 2 L).
    """

    def __init__(self, in_features: int, num_bands: int = 10, include_input: bool = True) -> None:
        super().__init__()
        if in_features < 1 or num_bands < 0:
            raise ValueError(f"need in_features >= 1 and num_bands >= 0, got {in_features}, {num_bands}")
        if num_bands == 0 and not include_input:
            raise ValueError("num_bands=0 with include_input=False gives no features")
        self.in_features = in_features
        self.num_bands = num_bands
        self.include_input = include_input
        self.out_features = in_features * (int(include_input) + 2 * num_bands)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, num_bands={self.num_bands}, include_input={self.include_input}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, 1, d) * (L, 1) -> (N, L, d); stacking sin/cos on dim 2 gives per band [sin | cos].
        # 2^k is exact in any float dtype, so the frequencies are pi * 2^k rounded once, in x's dtype.
        k = torch.arange(self.num_bands, device=x.device, dtype=x.dtype)
        frequencies = math.pi * torch.exp2(k)
        angles = x.unsqueeze(-2) * frequencies.unsqueeze(-1)
        bands = torch.stack((torch.sin(angles), torch.cos(angles)), dim=-2).flatten(-3)
        return torch.cat((x, bands), dim=-1) if self.include_input else bands


class GaussianFourierFeatures(nn.Module):
    """Random Fourier features [cos(2 pi B x), sin(2 pi B x)] with B ~ N(0, scale^2) fixed.

    Tancik et al. 2020 ("Fourier features let networks learn high frequency functions in low
    dimensional domains"): gamma(v) = [cos(2 pi B v), sin(2 pi B v)], B of shape
    (m, d) drawn once from N(0, sigma^2) and never trained; sigma is the one hyperparameter they
    tune per task (for their 2-D natural images, m = 256 and sigma = 10, with v in [0, 1)^2).
    The SPDER paper (Sec. 4.1 and A.9.2) uses "20 of such encodings ... from a standard
    Gaussian", i.e. m = 20 and sigma = 1: those are the defaults here, and `scale` is a parameter
    because, as SPDER's authors note, the standard normal is an untuned choice.

    Our coordinates span [-1, 1], twice the length of Tancik's [0, 1): a given B puts twice as
    many periods across the signal, so Tancik's sigma corresponds to scale = sigma / 2 here.

    include_input=False is Tancik's gamma(v); SPDER's text says the features are "appended to the
    input", which include_input=True gives. out_features = 2 m (+ in_features with the input).
    B is a persistent buffer (saved in checkpoints). With `seed` it is drawn from its own
    generator, so it does not depend on, or disturb, the global RNG; without, from the global RNG.
    """

    def __init__(
        self,
        in_features: int,
        num_features: int = 20,
        scale: float = 1.0,
        include_input: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if in_features < 1 or num_features < 1:
            raise ValueError(
                f"need in_features >= 1 and num_features >= 1, got {in_features}, {num_features}"
            )
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.in_features = in_features
        self.num_features = num_features
        self.scale = float(scale)
        self.include_input = include_input
        self.out_features = 2 * num_features + (in_features if include_input else 0)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        B = torch.randn(num_features, in_features, generator=generator) * self.scale
        self.register_buffer("B", B)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, num_features={self.num_features}, scale={self.scale}, "
            f"include_input={self.include_input}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected = 2.0 * math.pi * (x @ self.B.to(x.dtype).T)
        features = torch.cat((torch.cos(projected), torch.sin(projected)), dim=-1)
        return torch.cat((x, features), dim=-1) if self.include_input else features
