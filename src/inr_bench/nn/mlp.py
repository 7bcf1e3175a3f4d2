"""The coordinate MLP every model is built from: [encoding] -> activated layers -> linear head."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from inr_bench.nn.activations import CoordinateActivation

ActivationFactory = Callable[[], CoordinateActivation]
EncodingFactory = Callable[[int], nn.Module]


class CoordinateMLP(nn.Module):
    """Maps coordinates (N, in_features) to signal values (N, out_features).

    Layout (the reference code's): one input layer in->width, `hidden_layers` layers
    width->width, each followed by an activation, then a plain linear head width->out.
    With hidden_layers=5 that is 7 linear layers and 6 activations ("5-layer" in the paper).

    `activation` builds one activation per layer (so layers never share state); `encoding`,
    if given, is called with `in_features` and must expose `out_features`. `first_w0`, if
    given, is the first layer's w0 (`activation(w0=first_w0)`; SIREN's "first omega_0"), the
    other layers keep the activation's own w0: the first layer's w0 sets the frequencies the
    network starts from, the hidden layers' w0 how they compound.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: ActivationFactory,
        width: int = 256,
        hidden_layers: int = 5,
        encoding: EncodingFactory | None = None,
        first_w0: float | None = None,
    ) -> None:
        super().__init__()
        if width < 1 or hidden_layers < 0:
            raise ValueError(f"width must be >= 1 and hidden_layers >= 0, got {width}, {hidden_layers}")
        if first_w0 is not None and not first_w0 > 0:
            raise ValueError(f"first_w0 must be > 0 or None, got {first_w0}")
        self.in_features = in_features
        self.out_features = out_features
        self.encoding = encoding(in_features) if encoding is not None else nn.Identity()
        features = getattr(self.encoding, "out_features", in_features)
        self.linears = nn.ModuleList()
        self.activations = nn.ModuleList()
        for index in range(hidden_layers + 1):
            layer = nn.Linear(features, width)
            act = activation(w0=first_w0) if index == 0 and first_w0 is not None else activation()
            act.init_linear(layer, is_first=index == 0)
            self.linears.append(layer)
            self.activations.append(act)
            features = width
        self.head = nn.Linear(width, out_features)
        self.activations[-1].init_head(self.head)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        z = self.linears[0](self.encoding(coords))
        following = [*self.linears[1:], self.head]
        # Each activation computes itself and the next layer at once (for DampedSine that avoids
        # every full-size temporary, see nn/fused_linear.py) unless the coordinates need a
        # gradient: fitting image gradients backpropagates twice, which only the layer-wise
        # path supports. The intermediates z are this method's own, as then_linear requires.
        layer_wise = coords.requires_grad and torch.is_grad_enabled()
        for act, layer in zip(self.activations, following, strict=True):
            z = layer(act(z)) if layer_wise else act.then_linear(z, layer)
        return z
