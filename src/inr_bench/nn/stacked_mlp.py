"""K coordinate networks of identical structure as one module with stacked parameters.

Every linear layer's weights become one (K, out, in) tensor and its biases (K, 1, out), and a
layer is one batched matrix product (`torch.baddbmm`) over coordinates shaped (K, N, in). The
activations are elementwise and parameter-free, so one activation module serves the whole
stack; each activation runs with the next layer as one fused step (`then_affine`), as in
`CoordinateMLP`. Used by `fitting/batched.py` to fit K signals at once.

What cannot be stacked: networks with trainable encodings (the hash grid of Instant-NGP, a
learned grid), activations with parameters, or networks other than `CoordinateMLP`.
`batchable(net)` says which.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from inr_bench.nn.fused_linear import affine
from inr_bench.nn.mlp import CoordinateMLP


def batchable(net: nn.Module) -> tuple[bool, str]:
    """(True, "") if `net` can join a stack; else (False, why not)."""
    if type(net) is not CoordinateMLP:
        return False, f"{type(net).__name__} is not a plain CoordinateMLP"
    if any(True for _ in net.encoding.parameters()):
        return False, f"its encoding {type(net.encoding).__name__} has trainable parameters"
    if any(True for act in net.activations for _ in act.parameters()):
        return False, "its activations have trainable parameters"
    return True, ""


def _structure(net: CoordinateMLP) -> tuple:
    """What must agree between networks stacked together."""
    return (
        net.in_features,
        net.out_features,
        tuple(tuple(layer.weight.shape) for layer in net.linears),
        tuple(layer.bias is not None for layer in net.linears),
        tuple(type(act).__name__ + act.extra_repr() for act in net.activations),
        type(net.encoding).__name__ + net.encoding.extra_repr(),
        tuple(net.head.weight.shape),
    )


class StackedCoordinateMLP(nn.Module):
    """K CoordinateMLPs as one module: coordinates (K, N, in) -> values (K, N, out).

    Built from K separately initialised networks, whose parameters are copied into the stack;
    `network(k)` copies slice k back into a plain CoordinateMLP.
    Encodings without trainable parameters may still hold per-network buffers (Fourier
    features' random matrix B), so each network's own encoding is applied to its own slice.
    """

    def __init__(self, nets: Sequence[CoordinateMLP]) -> None:
        super().__init__()
        if not nets:
            raise ValueError("need at least one network")
        for net in nets:
            ok, why = batchable(net)
            if not ok:
                raise ValueError(f"cannot batch this network: {why}")
        reference = _structure(nets[0])
        for index, net in enumerate(nets[1:], start=1):
            if _structure(net) != reference:
                raise ValueError(f"network {index} differs in structure from network 0")
        self.k = len(nets)
        template = nets[0]
        self.activations = template.activations  # elementwise, parameter-free: shared by all K
        self.encodings = nn.ModuleList(net.encoding for net in nets)
        self._shared_encoding = not any(True for _ in template.encoding.buffers())
        with torch.no_grad():
            self.weights = nn.ParameterList(
                nn.Parameter(torch.stack([net.linears[i].weight.detach().clone() for net in nets]))
                for i in range(len(template.linears))
            )
            self.biases = nn.ParameterList(
                nn.Parameter(torch.stack([net.linears[i].bias.detach().clone() for net in nets]).unsqueeze(1))
                for i in range(len(template.linears))
            )
            self.head_weight = nn.Parameter(torch.stack([net.head.weight.detach().clone() for net in nets]))
            self.head_bias = nn.Parameter(
                torch.stack([net.head.bias.detach().clone() for net in nets]).unsqueeze(1)
            )
        # kept outside the module tree (not a submodule): only to rebuild plain networks
        self.__dict__["_template"] = template

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        if self._shared_encoding:
            return self.encodings[0](coords)
        return torch.stack(
            [encoding(part) for encoding, part in zip(self.encodings, coords.unbind(0), strict=True)]
        )

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (K, N, in) -> values (K, N, out); (N, in) is broadcast to all K networks."""
        if coords.ndim == 2:
            coords = coords.unsqueeze(0).expand(self.k, -1, -1)
        z = affine(self.encode(coords), self.weights[0], self.biases[0])
        following = [*zip(self.weights[1:], self.biases[1:], strict=True), (self.head_weight, self.head_bias)]
        # As CoordinateMLP.forward: each activation computes itself and the next layer at once,
        # unless the coordinates need a gradient (double backward needs the layer-wise path).
        layer_wise = coords.requires_grad and torch.is_grad_enabled()
        for act, (weight, bias) in zip(self.activations, following, strict=True):
            z = affine(act(z), weight, bias) if layer_wise else act.then_affine(z, weight, bias)
        return z

    @torch.no_grad()
    def network(self, k: int) -> CoordinateMLP:
        """A plain CoordinateMLP holding the parameters of slice k (a copy)."""
        net = copy.deepcopy(self._template)
        net.encoding = copy.deepcopy(self.encodings[k])
        for i, layer in enumerate(net.linears):
            layer.weight.copy_(self.weights[i][k])
            layer.bias.copy_(self.biases[i][k, 0])
        net.head.weight.copy_(self.head_weight[k])
        net.head.bias.copy_(self.head_bias[k, 0])
        return net
