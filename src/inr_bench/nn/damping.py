"""Damping functions delta(u) of SPDER's activation sin(u) * delta(u).

Every function takes the post-w0 argument u (see REFERENCE.md) and a small `eps` for the
functions whose gradient is infinite at 0: |u| is clamped to `eps` before sqrt/log, so the
gradient stays finite. Use `safe_eps(dtype)` for eps: the reference code's 1e-43 is a float32
subnormal that flushes to 0 in bf16/fp16.

Adding a damping function = one entry in DAMPINGS plus one YAML file in conf/delta/.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from inr_bench.errors import InrBenchError

DampingFn = Callable[[torch.Tensor, float], torch.Tensor]


def safe_eps(dtype: torch.dtype) -> float:
    """Smallest positive *normal* number of `dtype`: representable, never flushed to zero."""
    return float(torch.finfo(dtype).tiny)


def _sqrt_abs(u: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.sqrt(torch.clamp(torch.abs(u), min=eps))


def _log_abs(u: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.log(torch.clamp(torch.abs(u), min=eps))


def _arctan(u: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.atan(u)


def _sqrt_relu(u: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.sqrt(torch.clamp(u, min=eps))


def _identity(u: torch.Tensor, eps: float) -> torch.Tensor:
    return u


def _square(u: torch.Tensor, eps: float) -> torch.Tensor:
    return u * u


def _relu(u: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.relu(u)


def _one(u: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.ones_like(u)


# name -> (function, one-line description). Names are the `delta=` choices of the config.
DAMPINGS: dict[str, tuple[DampingFn, str]] = {
    "sqrt": (_sqrt_abs, "sqrt(|u|), the paper's default"),
    "log": (_log_abs, "log(|u|)"),
    "arctan": (_arctan, "arctan(u), best for audio in the paper"),
    "sqrt_relu": (_sqrt_relu, "sqrt(relu(u))"),
    "identity": (_identity, "u (ablation: linear damping)"),
    "square": (_square, "u^2 (ablation: superlinear damping)"),
    "relu": (_relu, "relu(u) (ablation)"),
    "one": (_one, "1: SPDER becomes exactly SIREN"),
}


def get_damping(name: str) -> DampingFn:
    """The damping function called `name`, or a clear error listing the valid names."""
    try:
        return DAMPINGS[name][0]
    except KeyError:
        valid = ", ".join(sorted(DAMPINGS))
        raise InrBenchError(
            f"Unknown damping function {name!r}. Valid names: {valid}. "
            f"Choose one with `delta=<name>` (e.g. `delta=sqrt`), or add a function to "
            f"inr_bench/nn/damping.py and a YAML file to conf/delta/."
        ) from None
