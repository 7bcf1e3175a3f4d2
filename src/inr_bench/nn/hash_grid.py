"""Multiresolution hash encoding of Instant-NGP (Müller et al. 2022, Sec. 3), in plain PyTorch.

The Instant-NGP baseline is this encoding in front of a small ReLU MLP:

    CoordinateMLP(in, out, activation=ReLU, width=64, hidden_layers=1,
                  encoding=partial(HashGridEncoding, ...))

CoordinateMLP builds one input layer (L*F -> 64) and `hidden_layers` layers 64 -> 64, each
followed by the activation, then a linear head: hidden_layers=1 gives the paper's MLP with two
hidden layers of 64 neurons (REFERENCE.md "2x64"; `n_hidden_layers: 2, n_neurons: 64` in
instant-ngp's configs/image/base.json). One difference remains: tiny-cuda-nn's fully fused MLP
has no biases, CoordinateMLP's layers have (64 + 64 + out extra parameters, PyTorch's default).
The optimiser of the paper (Adam lr 1e-2, betas (0.9, 0.99), eps 1e-15) belongs to the config.

Defaults and their sources (Müller et al. 2022, Table 1 and Sec. 3):
- L = 16 levels, F = 2 features per level, coarsest resolution N_min = 16.
- log2 T = 19: a common choice in the paper (e.g. its NeRF results); Table 1 gives the range
  2^14 .. 2^24, as REFERENCE.md quotes, and instant-ngp's image config uses 2^24 (16 levels of
  2^24 x 2 floats, plus Adam's state, are too much for a CPU default; configs may set it).
- N_max = 2048: Table 1 gives 512 .. 524288 and the paper chooses N_max "to match the finest
  detail in the training data"; 2048 is 8 times the side of SPDER's 256x256 images. instant-ngp's
  image config sets no N_max: tiny-cuda-nn's default growth factor 2 gives N_max = 16 * 2^15.
  For audio (d = 1, one vertex per sample wanted) set N_max near the number of samples; a 1-D
  level stays dense up to N_l = T - 1. Audio coordinates span [-100, 100] (REFERENCE.md):
  set bound=100.
- Growth factor b = exp((ln N_max - ln N_min) / (L - 1)); level l has resolution
  N_l = floor(N_min * b^l) (Eq. 2-3).
- Level l indexes its table densely, 1:1, when (N_l + 1)^d <= T, else through the spatial hash
  h(x) = (XOR_i x_i * pi_i) mod T with pi = (1, 2654435761, 805459861) (Eq. 4).
- Vertex features are d-linearly interpolated; tables start as U(-1e-4, 1e-4) (Sec. 4).

We follow the paper's text where tiny-cuda-nn's kernels differ in detail (tcnn scales a level by
N_min * b^l - 1 and shifts by half a cell). Integer arithmetic runs in int64: the products stay
below 2^56, and because T divides 2^32, the result mod T equals that of tcnn's wrapping uint32
arithmetic.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Eq. 4 of Müller et al. 2022: one prime per dimension (the first is 1 for cache coherence).
HASH_PRIMES = (1, 2654435761, 805459861)


class HashGridEncoding(nn.Module):
    """Maps coordinates (N, d), d in {1, 2, 3}, in [-bound, bound] to (N, L * F) features.

    Coordinates are mapped to [0, 1] by (x / bound + 1) / 2 and clamped there (a point outside
    the domain reads the border cell). Output layout: level-major, [level 0 features, level 1
    features, ...]. All levels live in one parameter `embeddings` (rows `level_offsets[l]` ..
    `level_offsets[l + 1]` belong to level l), so one optimizer group covers the encoding.
    """

    def __init__(
        self,
        in_features: int,
        num_levels: int = 16,
        features_per_level: int = 2,
        log2_table_size: int = 19,
        base_resolution: int = 16,
        finest_resolution: int = 2048,
        bound: float = 1.0,
        init_range: float = 1e-4,
        output_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if not 1 <= in_features <= len(HASH_PRIMES):
            raise ValueError(f"hash grid supports 1..{len(HASH_PRIMES)} input dimensions, got {in_features}")
        if num_levels < 1 or features_per_level < 1:
            raise ValueError(
                f"need num_levels >= 1 and features_per_level >= 1, got {num_levels}, {features_per_level}"
            )
        if not 1 <= log2_table_size <= 30:
            raise ValueError(f"log2_table_size must be in 1..30, got {log2_table_size}")
        if base_resolution < 1 or finest_resolution < base_resolution:
            raise ValueError(
                f"need 1 <= base_resolution <= finest_resolution, got {base_resolution}, {finest_resolution}"
            )
        if not bound > 0:
            raise ValueError(f"bound must be > 0, got {bound}")
        self.in_features = in_features
        self.num_levels = num_levels
        self.features_per_level = features_per_level
        self.log2_table_size = log2_table_size
        self.table_size = 2**log2_table_size
        self.base_resolution = base_resolution
        self.finest_resolution = finest_resolution
        self.bound = float(bound)
        # Features are output_scale * the interpolated table entries. Adam's step does not depend
        # on the gradient's scale, so the features then move output_scale times faster than
        # with 1: a separate table learning rate (output_scale * lr) without a second optimiser
        # group. Instant-NGP itself needs none (1.0): its one lr (1e-2) suits its ReLU MLP.
        self.output_scale = float(output_scale)
        self.out_features = num_levels * features_per_level

        self.growth_factor = (
            math.exp((math.log(finest_resolution) - math.log(base_resolution)) / (num_levels - 1))
            if num_levels > 1
            else 1.0
        )
        # The tiny relative guard keeps floor() from turning N_max = 2048 into 2047 through the
        # rounding of exp/log; it never moves a resolution by more than that rounding.
        self.resolutions = [
            int(math.floor(base_resolution * self.growth_factor**level * (1 + 1e-12)))
            for level in range(num_levels)
        ]
        self.dense = [(res + 1) ** in_features <= self.table_size for res in self.resolutions]
        sizes = [
            (res + 1) ** in_features if dense else self.table_size
            for res, dense in zip(self.resolutions, self.dense, strict=True)
        ]
        self.level_sizes = sizes
        self.level_offsets = [0]
        for size in sizes:
            self.level_offsets.append(self.level_offsets[-1] + size)

        self.embeddings = nn.Parameter(torch.empty(self.level_offsets[-1], features_per_level))
        with torch.no_grad():
            self.embeddings.uniform_(-init_range, init_range)
        # Corner c of a cell: bit i of c says whether dimension i takes the upper vertex.
        corners = [[(c >> i) & 1 for i in range(in_features)] for c in range(2**in_features)]
        self.register_buffer("corner_offsets", torch.tensor(corners, dtype=torch.long), persistent=False)
        self.register_buffer(
            "primes", torch.tensor(HASH_PRIMES[:in_features], dtype=torch.long), persistent=False
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, levels={self.num_levels}, features_per_level={self.features_per_level}, "
            f"table=2^{self.log2_table_size}, resolutions={self.resolutions[0]}..{self.resolutions[-1]}, "
            f"bound={self.bound}"
            + (f", output_scale={self.output_scale}" if self.output_scale != 1.0 else "")
        )

    def vertex_index(self, level: int, vertices: torch.Tensor) -> torch.Tensor:
        """Row of level `level`'s table (0-based within the level) for integer grid vertices (..., d)."""
        if self.dense[level]:
            strides = (self.resolutions[level] + 1) ** torch.arange(self.in_features, device=vertices.device)
            return (vertices * strides).sum(-1)
        hashed = vertices[..., 0] * self.primes[0]
        for dim in range(1, self.in_features):
            hashed = torch.bitwise_xor(hashed, vertices[..., dim] * self.primes[dim])
        return hashed & (self.table_size - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unit = ((x / self.bound + 1.0) * 0.5).clamp(0.0, 1.0)  # (N, d) in [0, 1]
        outputs = []
        for level, res in enumerate(self.resolutions):
            pos = unit * res
            # Lower vertex of the cell; at x = 1 use the last cell with fraction 1 (same value).
            lower = torch.floor(pos).clamp(max=res - 1)
            frac = pos - lower  # (N, d) in [0, 1]
            vertices = lower.long().unsqueeze(-2) + self.corner_offsets  # (N, 2^d, d)
            rows = self.vertex_index(level, vertices) + self.level_offsets[level]
            upper = self.corner_offsets.to(frac.dtype)  # (2^d, d)
            weights = (upper * frac.unsqueeze(-2) + (1 - upper) * (1 - frac.unsqueeze(-2))).prod(
                -1
            )  # (N, 2^d)
            features = self.embeddings[rows]  # (N, 2^d, F)
            outputs.append((weights.unsqueeze(-1).to(features.dtype) * features).sum(-2))
        encoded = torch.cat(outputs, dim=-1)
        return encoded if self.output_scale == 1.0 else self.output_scale * encoded
