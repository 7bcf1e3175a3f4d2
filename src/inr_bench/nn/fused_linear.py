"""A damped-sine activation followed by a linear layer, with no full-size temporaries.

Why: on a CPU the elementwise work of a SPDER layer is cheap next to its matrix products, but
every fresh full-size tensor is not: the allocator maps new pages for it and the first touch of
each 4 KiB page faults (measured at ~2-3.5 us per page on this project's VMs, ~30-55 ms per
64 MB tensor, about the cost of the layer's matrix product). The layer-wise path
(`damped_sine`, then nn.Linear) makes four such tensors per layer and step: the activation's
output and the pre-activation z forward, their gradients backward. This path makes one, the
next pre-activation, which the linear layers alone (the floor) make too:

forward   a = act(z) into a scratch buffer (reused by every layer and step), out = a W^T + b;
          saves z (alive anyway: it is the previous layer's output) and W.
backward  one elementwise pass writes a = act(z) again into the scratch (cheaper than keeping
          a) and act'(z) over z itself, whose values nobody needs any more; dW = g^T a,
          db = sum(g); dL/da = g W into the scratch; z *= dL/da gives dL/dz in place.

So a layer keeps one full-size tensor alive, as the layer-wise fused path does, and no
gradient is a fresh allocation. The overwrite of z is safe because z is an intermediate of
CoordinateMLP.forward (the output of the previous layer); any other autograd node that saved z
would fail autograd's version check instead of computing with the wrong values. What this
path does not support, and the layer-wise path does: double backward (CoordinateMLP uses the
layer-wise path when the coordinates require grad: image-gradient fitting) and a second
backward through the same graph (retain_graph=True; it says so in an error).
"""

from __future__ import annotations

import threading

import torch

from inr_bench.nn import fused
from inr_bench.nn.damping import safe_eps

_SCRATCH = threading.local()


def _scratch(like: torch.Tensor) -> torch.Tensor:
    """An uninitialised buffer of like's shape, dtype and device.

    On a CPU one buffer per (thread, dtype, inference mode) is kept and reused (only ever
    grown), so its pages stay mapped; it is only used within one forward or one backward call,
    never across calls.
    Elsewhere (CUDA) the caching allocator already reuses memory: a plain empty tensor."""
    if like.device.type != "cpu":
        return torch.empty_like(like, memory_format=torch.contiguous_format)
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    # A tensor made under inference mode may not be written outside it: one buffer for each.
    key = (like.dtype, torch.is_inference_mode_enabled())
    flat = buffers.get(key)
    if flat is None or flat.numel() < like.numel():
        flat = buffers[key] = torch.empty(like.numel(), dtype=like.dtype)
    return flat[: like.numel()].view(like.shape)


def release_scratch() -> None:
    """Free this thread's scratch buffers (they are re-made on the next call)."""
    _SCRATCH.buffers = {}


def affine(a: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """a W^T + b for one network (a (N, in), W (out, in), b (out,)) or for K stacked networks
    (a (K, N, in), W (K, out, in), b (K, 1, out)), in one matrix-product call."""
    if a.ndim == 2:
        return torch.addmm(bias, a, weight.t()) if bias is not None else a @ weight.t()
    transposed = weight.transpose(1, 2)
    return torch.baddbmm(bias, a, transposed) if bias is not None else torch.bmm(a, transposed)


def _weight_grad(grad_out: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return grad_out.t() @ a if a.ndim == 2 else torch.bmm(grad_out.transpose(1, 2), a)


def _input_grad_into(grad_out: torch.Tensor, weight: torch.Tensor, out: torch.Tensor) -> None:
    (torch.mm if out.ndim == 2 else torch.bmm)(grad_out, weight, out=out)


class _DampedSineLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, weight, bias, kernels, scales):  # type: ignore[override]
        a = _scratch(z)
        kernels.run("forward_into", z.detach(), a, scales)
        out = affine(a, weight.detach(), None if bias is None else bias.detach())
        ctx.save_for_backward(z, weight)
        ctx.kernels, ctx.scales, ctx.has_bias = kernels, scales, bias is not None
        ctx.bias_shape = None if bias is None else bias.shape
        # z's storage may take its gradient if z is an intermediate of its own: not a leaf
        # (a user's tensor) and not a view into a larger tensor.
        ctx.overwrite_z = z.grad_fn is not None and z._base is None
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        try:
            z, weight = ctx.saved_tensors
        except RuntimeError as error:
            raise RuntimeError(
                "inr_bench's fused damped-sine layers reuse their buffers for gradients, so a "
                "graph can be backpropagated once only (retain_graph=True is not supported). "
                "Set INR_BENCH_FUSED=0 (or build DampedSine(fused=False)) for that."
            ) from error
        kernels, scales = ctx.kernels, ctx.scales
        if torch.is_grad_enabled():  # create_graph=True: differentiable eager formulas
            a = kernels.eager["forward"](z, scales)
            grad_z = kernels.eager["backward"](z, grad_out @ weight, scales)
            grad_bias = grad_out.sum(-2).reshape(ctx.bias_shape) if ctx.has_bias else None
            return grad_z, _weight_grad(grad_out, a), grad_bias, None, None
        grad_out = grad_out.contiguous()
        z, weight = z.detach(), weight.detach()
        grad_weight = grad_bias = grad_z = None
        a = _scratch(z)
        if ctx.needs_input_grad[0] and ctx.overwrite_z:
            # a <- act(z) and z <- act'(z) in one pass (sine and damping computed once).
            kernels.run("value_and_derivative_inplace", z, a, scales)
        else:
            kernels.run("forward_into", z, a, scales)
        if ctx.needs_input_grad[1]:
            grad_weight = _weight_grad(grad_out, a)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum(-2).reshape(ctx.bias_shape)
        if ctx.needs_input_grad[0]:
            _input_grad_into(grad_out, weight, a)  # dL/da; a's values are no longer needed
            if ctx.overwrite_z:
                grad_z = z.mul_(a)  # dL/dz = dL/da * act'(z), in z's storage
            else:
                grad_z = torch.empty_like(z)
                kernels.run("backward_into", z, a, grad_z, scales)
        return grad_z, grad_weight, grad_bias, None, None


def _autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no device argument
        return torch.is_autocast_enabled()


def damped_sine_affine(
    z: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    w0: float = 30.0,
    damping: str = "sqrt",
    damping_input: str = "scaled",
    eps: float | None = None,
) -> torch.Tensor:
    """affine(damped_sine(z, ...), weight, bias), computed as the module docstring says; z is
    (N, in) with weight (out, in), or K stacked networks' (K, N, in) with weight (K, out, in).

    z must be an intermediate result that nothing else reads after backward (its storage
    receives its gradient). Falls back to the layer-wise path where this one does not apply:
    fusing off or not worth it (`fused.fusable`), autocast, a non-contiguous z of another rank,
    or parameters of another dtype or device than z.
    """
    fused.check_arguments(damping, damping_input)
    w0 = float(w0)
    eps = float(eps) if eps is not None else safe_eps(z.dtype)
    if (
        z.ndim not in (2, 3)
        or weight.ndim != z.ndim
        or not z.is_contiguous()
        or weight.dtype != z.dtype
        or weight.device != z.device
        or _autocast_on(z.device.type)
        or not fused.fusable(z, damping, eps)
    ):
        return affine(fused.damped_sine(z, w0, damping, damping_input, eps), weight, bias)
    kernels = fused.kernels_for(damping, eps, z)
    scales = fused.scales_for(w0, damping_input, z)
    if torch.is_grad_enabled() and (z.requires_grad or weight.requires_grad):
        return _DampedSineLinearFunction.apply(z, weight, bias, kernels, scales)
    a = _scratch(z)
    kernels.run("forward_into", z, a, scales)
    return affine(a, weight, bias)


def damped_sine_linear(z: torch.Tensor, layer: torch.nn.Linear, *args, **kwargs) -> torch.Tensor:
    """layer(damped_sine(z, ...)) through `damped_sine_affine` (layer's hooks are not called)."""
    return damped_sine_affine(z, layer.weight, layer.bias, *args, **kwargs)
