"""The damping registry: every delta(u) of SPDER's activation sin(u) * delta(u), one record each.

A record holds the function, its derivative for the fused kernels (nn/fused.py), a label for
tables and legends, and where the function comes from. Everything that knows dampings reads
this registry: the activation, the fused forward and backward kernels, the damping ablation
(`delta=glob(*)`) and the tables. Adding a damping = one `register_damping(Damping(...))`
call plus a YAML file `delta/<name>.yaml` holding `name: <name>` (in inr_bench/conf, or in your
own config folder on Hydra's search path).

Every function takes the post-w0 argument u (see REFERENCE.md) and a small `eps` for the
functions whose gradient is infinite at 0: |u| is clamped to `eps` before sqrt/log, so the
gradient stays finite. Use `safe_eps(dtype)` for eps: the reference code's 1e-43 is a float32
subnormal that flushes to 0 in bf16/fp16.

A derivative matches autograd of its function exactly, clamps included: abs' = sign (0 at 0),
clamp' = [x >= eps]. A derivative given as a float is a constant (0.0 drops the term from the
backward kernel); `derivative=None` makes the fused path fall back to eager autograd.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from inr_bench.errors import InrBenchError

DampingFn = Callable[[torch.Tensor, float], torch.Tensor]
Derivative = Callable[[torch.Tensor, float], "torch.Tensor | float"] | float


@dataclass(frozen=True)
class Damping:
    name: str
    function: DampingFn
    derivative: Derivative | None
    label: str
    source: str


DAMPINGS: dict[str, Damping] = {}


def register_damping(damping: Damping) -> Damping:
    """Add `damping` to the registry (replacing one of the same name) and return it."""
    DAMPINGS[damping.name] = damping
    return damping


def safe_eps(dtype: torch.dtype) -> float:
    """Smallest positive *normal* number of `dtype`: representable, never flushed to zero."""
    return float(torch.finfo(dtype).tiny)


def _clamped_abs(v: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.clamp(torch.abs(v), min=eps)


def _where_unclamped(v: torch.Tensor, eps: float, value: torch.Tensor) -> torch.Tensor:
    """value where |v| >= eps, 0 where the clamp holds |v| (its gradient is zero there)."""
    return torch.where(torch.abs(v) >= eps, value, 0.0)


_PAPER = "SPDER paper (Shah & Sitawarin, ICLR 2024), Sec. 3"
_ABLATION = "SPDER paper, A.12 (damping ablation, Fig. 20)"

register_damping(
    Damping(
        "sqrt",
        lambda u, eps: torch.sqrt(_clamped_abs(u, eps)),
        lambda v, eps: _where_unclamped(v, eps, torch.sign(v) * 0.5 / torch.sqrt(_clamped_abs(v, eps))),
        "sqrt(|u|)",
        f"{_PAPER}: the default damping",
    )
)
register_damping(
    Damping(
        "log",
        lambda u, eps: torch.log(_clamped_abs(u, eps)),
        lambda v, eps: _where_unclamped(v, eps, torch.sign(v) / _clamped_abs(v, eps)),
        "log(|u|)",
        _PAPER,
    )
)
register_damping(
    Damping(
        "arctan",
        lambda u, eps: torch.atan(u),
        lambda v, eps: 1.0 / (1.0 + v * v),
        "arctan(u)",
        f"{_PAPER}: best for audio (Table 2)",
    )
)
register_damping(
    Damping(
        "sqrt_relu",
        lambda u, eps: torch.sqrt(torch.clamp(u, min=eps)),
        lambda v, eps: torch.where(v >= eps, 0.5 / torch.sqrt(torch.clamp(v, min=eps)), 0.0),
        "sqrt(relu(u))",
        _PAPER,
    )
)
register_damping(Damping("identity", lambda u, eps: u, 1.0, "u", f"{_ABLATION}: linear damping"))
register_damping(
    Damping("square", lambda u, eps: u * u, lambda v, eps: 2.0 * v, "u^2", f"{_ABLATION}: superlinear")
)
register_damping(
    Damping("relu", lambda u, eps: torch.relu(u), lambda v, eps: (v > 0).to(v.dtype), "relu(u)", _ABLATION)
)
register_damping(
    Damping(
        "one",
        lambda u, eps: torch.ones_like(u),
        0.0,
        "1 (SIREN)",
        "a constant: sin(u) alone, i.e. SIREN (Sitzmann et al. 2020)",
    )
)


def get_damping(name: str) -> Damping:
    """The registry's record called `name`, or a clear error listing the valid names."""
    try:
        return DAMPINGS[name]
    except KeyError:
        valid = ", ".join(sorted(DAMPINGS))
        raise InrBenchError(
            f"Unknown damping function {name!r}. Valid names: {valid}. Choose one with `delta=<name>` "
            f"(e.g. `delta=sqrt`), or register a new one (inr_bench.nn.damping.register_damping) and add "
            f"its delta/<name>.yaml to a config folder."
        ) from None
