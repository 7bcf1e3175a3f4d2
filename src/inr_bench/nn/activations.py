"""Activations of coordinate MLPs, each owning the weight initialisation that suits it.

An activation here is an `nn.Module` applied to the pre-activation z = W h + b. Besides
`forward`, every activation says how to initialise the linear layer that feeds it
(`init_linear`) and the plain linear head after the last activated layer (`init_head`):
the initialisation is a property of the activation (SIREN's scheme only makes sense for
sin(w0 z)), so keeping both together stops a model from pairing one with the wrong other.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from inr_bench.nn.damping import get_damping, safe_eps
from inr_bench.nn.fused import damped_sine
from inr_bench.nn.fused_linear import affine, damped_sine_affine


class CoordinateActivation(nn.Module):
    """Base class: PyTorch's default initialisation and no extra behaviour."""

    def init_linear(self, layer: nn.Linear, is_first: bool) -> None:
        """Initialise `layer`, whose output this activation consumes (default: keep PyTorch's)."""

    def init_head(self, layer: nn.Linear) -> None:
        """Initialise the linear head that reads this activation's output (default: PyTorch's)."""

    def then_affine(self, z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """This activation followed by the next layer, self(z) W^T + b, for one network
        ((N, in) and (out, in)) or K stacked ones ((K, N, in) and (K, out, in)). An activation
        may compute both at once (DampedSine does, without full-size temporaries); z must then
        be an intermediate that only this call reads."""
        return affine(self(z), weight, bias)

    def then_linear(self, z: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
        """layer(self(z)) through `then_affine` (the layer's module hooks are not called)."""
        return self.then_affine(z, layer.weight, layer.bias)


class ReLU(CoordinateActivation):
    """relu(w0 * z). Defaults (w0 = 1, init="default"): a standard ReLU MLP, PyTorch's nn.Linear init.

    w0 = 30 with init="siren" is the SPDER reference code's ReLU baseline (model=relu): every
    layer computes relu(w0 * (W h + b)) with SIREN's weight init (paper A.9.1: the input of
    every activation is multiplied by w0, "which is always 30"). Since relu(30 z) = 30 relu(z),
    that is a ReLU net with He-uniform-sized weights and 30x PyTorch's bias range, which under
    Adam also moves 30 times faster than the same lr on a plain ReLU net.
    """

    def __init__(self, w0: float = 1.0, init: str = "default") -> None:
        super().__init__()
        if init not in ("default", "siren"):
            raise ValueError(f"init must be 'default' or 'siren', got {init!r}")
        self.w0 = float(w0)
        self.init = init

    def extra_repr(self) -> str:
        return f"w0={self.w0}, init={self.init}"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z if self.w0 == 1.0 else self.w0 * z)

    def init_linear(self, layer: nn.Linear, is_first: bool) -> None:
        if self.init == "siren":  # the same bounds as DampedSine
            fan_in = layer.in_features
            bound = 1.0 / fan_in if is_first else math.sqrt(6.0 / fan_in) / self.w0
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound)

    def init_head(self, layer: nn.Linear) -> None:
        self.init_linear(layer, is_first=False)


class DampedSine(CoordinateActivation):
    """SPDER's activation sin(u) * delta(u) with u = w0 * z; with damping "one", SIREN's sin(u).

    damping_input="scaled" (reference code, the default) damps the post-w0 argument u;
    damping_input="raw" damps z itself (a literal reading of the paper's text).
    Weights follow SIREN (Sitzmann et al. 2020, Sec. 3.2): first layer U(-1/fan_in, 1/fan_in),
    later layers and the head U(-sqrt(6/fan_in)/w0, sqrt(6/fan_in)/w0); biases keep PyTorch's
    default U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as the reference code does.
    """

    def __init__(
        self,
        w0: float = 30.0,
        damping: str = "sqrt",
        damping_input: str = "scaled",
        eps: float | None = None,
        fused: bool = True,
    ) -> None:
        super().__init__()
        if damping_input not in ("scaled", "raw"):
            raise ValueError(f"damping_input must be 'scaled' or 'raw', got {damping_input!r}")
        self.w0 = float(w0)
        self.damping_name = damping
        self.damping = get_damping(damping).function
        self.damping_input = damping_input
        self.eps = eps
        self.fused = fused

    def extra_repr(self) -> str:
        return f"w0={self.w0}, damping={self.damping_name}, damping_input={self.damping_input}"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        eps = self.eps if self.eps is not None else safe_eps(z.dtype)
        if self.fused:  # fused kernels (inr_bench.nn.fused); eager if INR_BENCH_FUSED=0 or no compiler
            return damped_sine(z, self.w0, self.damping_name, self.damping_input, eps)
        u = self.w0 * z
        damped = self.damping(u if self.damping_input == "scaled" else z, eps)
        return torch.sin(u) * damped

    def then_affine(self, z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if not self.fused:
            return affine(self(z), weight, bias)
        # No full-size temporaries forward or backward (inr_bench.nn.fused_linear).
        return damped_sine_affine(z, weight, bias, self.w0, self.damping_name, self.damping_input, self.eps)

    def init_linear(self, layer: nn.Linear, is_first: bool) -> None:
        fan_in = layer.in_features
        bound = 1.0 / fan_in if is_first else math.sqrt(6.0 / fan_in) / self.w0
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound)

    def init_head(self, layer: nn.Linear) -> None:
        self.init_linear(layer, is_first=False)


def _gaussian(exponent: torch.Tensor) -> torch.Tensor:
    """exp(-exponent) for exponent >= 0, with results below the dtype's smallest normal set to 0.

    Gaussian tails underflow to subnormal numbers (float32: exponent > 87), and subnormals make
    CPU matmuls and their backward many times slower. The values dropped are below
    finfo(dtype).tiny (1.2e-38 in float32), as are their gradients, so the function is unchanged
    to within what the dtype can represent as a normal number.
    """
    cutoff = -math.log(safe_eps(exponent.dtype))
    return torch.exp(-exponent).masked_fill(exponent > cutoff, 0.0)


class Gauss(CoordinateActivation):
    """Gaussian activation exp(-z^2 / (2 sigma^2)) of Ramasinghe & Lucey 2022 ("Beyond Periodicity").

    sigma = 0.09 is the default of the authors' released code (NeRF.gaussian in
    samgregoost/Beyond_periodicity, run_nerf_helpers.py); in the form exp(-0.5 (s z)^2), s = 1/sigma.
    Later benchmarks write the same function as exp(-(a z)^2), a = 1 / (sqrt(2) sigma): WIRE's
    baseline uses a = 10 (sigma ~ 0.071) and FINER's image scripts a = 30 (sigma ~ 0.024).
    The paper's point is robustness to initialisation: the authors' code (and the Gauss baselines
    of WIRE and FINER) keep PyTorch's default nn.Linear initialisation for every layer and the
    head, which init_linear/init_head restore.
    """

    def __init__(self, sigma: float = 0.09) -> None:
        super().__init__()
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.sigma = float(sigma)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _gaussian(0.5 * torch.square(z / self.sigma))

    def init_linear(self, layer: nn.Linear, is_first: bool) -> None:
        layer.reset_parameters()

    def init_head(self, layer: nn.Linear) -> None:
        layer.reset_parameters()


class Wire(CoordinateActivation):
    """WIRE's Gabor wavelet (Saragadam et al. 2023), real form: cos(omega0 z) * exp(-(s0 z)^2).

    WIRE's complex Gabor wavelet is psi(z) = exp(j omega0 z - |s0 z|^2); for a real z its real
    part is the function here. WIRE's published results use the complex form (complex weights
    after the first layer, width divided by sqrt(2) to keep the parameter count, `.real` of a
    complex head). This implementation is deliberately the real variant: CoordinateMLP's
    layers and outputs are real, and a complex path would need complex layers throughout. It is
    thus "WIRE (real Gabor)", not a reproduction of WIRE's complex numbers: it drops the
    imaginary (sine) channel. It also differs from the released RealGaborLayer, which feeds the
    cosine and the Gaussian from two separate linear maps; here both share one z, as in the
    complex layer.

    Defaults omega0 = 20, s0 = 10: WIRE's image-representation setting as this project's issue
    states it, and the values of FINER's WIRE image baseline (run_wire.sh: omega 20 in every
    layer, scale 10). WIRE's released INR class defaults differ (omega 30, scale 10).
    Initialisation: WIRE keeps PyTorch's default nn.Linear initialisation for every layer and
    the head (no SIREN-style scheme); init_linear/init_head restore it.
    """

    def __init__(self, omega0: float = 20.0, s0: float = 10.0) -> None:
        super().__init__()
        self.omega0 = float(omega0)
        self.s0 = float(s0)

    def extra_repr(self) -> str:
        return f"omega0={self.omega0}, s0={self.s0} (real Gabor)"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cos(self.omega0 * z) * _gaussian(torch.square(self.s0 * z))

    def init_linear(self, layer: nn.Linear, is_first: bool) -> None:
        layer.reset_parameters()

    def init_head(self, layer: nn.Linear) -> None:
        layer.reset_parameters()


class Finer(CoordinateActivation):
    """FINER's variable-periodic activation sin(w0 * (|z| + 1) * z) (Liu et al., CVPR 2024).

    w0 = 30 (paper and the authors' run_finer.sh). Weights follow SIREN exactly as in the
    authors' models.py: first layer U(-1/fan_in, 1/fan_in), later layers and the head
    U(-sqrt(6/fan_in)/w0, sqrt(6/fan_in)/w0). FINER's own addition is the first layer's bias,
    drawn from U(-k, k) with a large k so that the first layer reaches the high-frequency parts
    of the variable-periodic function: first_bias_scale = k = 20 is the paper's value for images
    as this project's issue states it (not re-checked against the paper's text here). The
    authors' image script leaves it unset, i.e. PyTorch's default bias
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)): first_bias_scale=None reproduces that. Other biases keep
    PyTorch's default.

    The released code computes the factor |z| + 1 without gradient (scale_req_grad=False by
    default); scale_grad=False matches it, scale_grad=True differentiates through |z| too.
    """

    def __init__(
        self, w0: float = 30.0, first_bias_scale: float | None = 20.0, scale_grad: bool = False
    ) -> None:
        super().__init__()
        if first_bias_scale is not None and not first_bias_scale > 0:
            raise ValueError(f"first_bias_scale must be > 0 or None, got {first_bias_scale}")
        self.w0 = float(w0)
        self.first_bias_scale = first_bias_scale
        self.scale_grad = scale_grad

    def extra_repr(self) -> str:
        return f"w0={self.w0}, first_bias_scale={self.first_bias_scale}, scale_grad={self.scale_grad}"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        alpha = torch.abs(z) + 1.0
        if not self.scale_grad:
            alpha = alpha.detach()
        return torch.sin(self.w0 * alpha * z)

    def init_linear(self, layer: nn.Linear, is_first: bool) -> None:
        fan_in = layer.in_features
        bound = 1.0 / fan_in if is_first else math.sqrt(6.0 / fan_in) / self.w0
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound)
            if is_first and self.first_bias_scale is not None and layer.bias is not None:
                layer.bias.uniform_(-self.first_bias_scale, self.first_bias_scale)

    def init_head(self, layer: nn.Linear) -> None:
        self.init_linear(layer, is_first=False)
