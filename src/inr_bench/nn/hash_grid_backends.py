"""The multiresolution hash encoding by backend: "torch" (hash_grid.py, the default, any device)
or "tcnn" (NVIDIA's tiny-cuda-nn kernels, opt-in: `model.net.encoding.backend=tcnn`).

The tcnn backend is only ever used when asked for, and asking for it without the `tinycudann`
package or without a CUDA GPU is an error, never a silent fallback to the PyTorch version: the
two differ in detail (tcnn scales level l by N_min * b^l - 1 and shifts by half a cell, stores
its tables in half precision by default, and its MLP-side conventions differ), so a run must say
which one produced its numbers.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from inr_bench.errors import InrBenchError
from inr_bench.nn.hash_grid import HashGridEncoding

BACKENDS = ("torch", "tcnn")
TCNN_INSTALL = "pip install git+https://github.com/NVlabs/tiny-cuda-nn/#subdirectory=bindings/torch"


class TcnnHashGridEncoding(nn.Module):
    """tiny-cuda-nn's HashGrid with HashGridEncoding's arguments and domain [-bound, bound]^d.

    Its tables are tcnn's (initialised U(-1e-4, 1e-4) by tcnn, so no init_range); features are
    returned in float32, times output_scale (see HashGridEncoding).
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
        output_scale: float = 1.0,
    ) -> None:
        super().__init__()
        try:
            import tinycudann as tcnn
        except ImportError as error:
            raise InrBenchError(
                f"model.net.encoding.backend=tcnn needs the tinycudann package ({error}). Install it "
                f"on a machine with CUDA ({TCNN_INSTALL}) or use the PyTorch encoding: "
                f"model.net.encoding.backend=torch."
            ) from None
        if not torch.cuda.is_available():
            raise InrBenchError(
                "model.net.encoding.backend=tcnn needs a CUDA GPU and none is visible; use "
                "model.net.encoding.backend=torch (the PyTorch hash encoding) on this machine."
            )
        self.in_features = in_features
        self.bound = float(bound)
        self.output_scale = float(output_scale)
        growth = (
            math.exp((math.log(finest_resolution) - math.log(base_resolution)) / (num_levels - 1))
            if num_levels > 1
            else 1.0
        )
        config = {
            "otype": "HashGrid",
            "n_levels": num_levels,
            "n_features_per_level": features_per_level,
            "log2_hashmap_size": log2_table_size,
            "base_resolution": base_resolution,
            "per_level_scale": growth,
        }
        self.encoding = tcnn.Encoding(in_features, config, dtype=torch.float32)
        self.out_features = self.encoding.n_output_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unit = ((x / self.bound + 1.0) * 0.5).clamp(0.0, 1.0)
        return self.output_scale * self.encoding(unit).float()


def hash_grid_encoding(in_features: int, backend: str = "torch", **kwargs) -> nn.Module:
    """A hash encoding of `in_features`-D coordinates from `backend`; kwargs as HashGridEncoding."""
    if backend == "torch":
        return HashGridEncoding(in_features, **kwargs)
    if backend == "tcnn":
        return TcnnHashGridEncoding(in_features, **kwargs)
    raise InrBenchError(f"Unknown hash-grid backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
