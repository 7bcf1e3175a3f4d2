"""Batched many-signal fitting: K signals of one shape, each with its own network, in one pass.

K `CoordinateMLP`s of identical structure become one stack: every linear layer's weights are a
(K, out, in) tensor and its biases (K, 1, out), and a layer is one batched matrix product
(`torch.baddbmm`) over coordinates shaped (K, N, in). The activations are elementwise and
parameter-free, so one activation module serves the whole stack.

Why this equals K separate fits: the loss is the *sum* of the K per-signal losses, and each
network's parameters appear in its own term only, so the gradient slice of network k is exactly
the gradient of its own loss. Adam is elementwise (its moments, bias correction and step size
act on each number separately), so one Adam over the stacked tensors gives every slice exactly
the update it would get alone. Only the order of floating-point additions differs (batched
versus single matrix products): K batched fits equal K separate fits to float32 rounding.

What cannot be stacked: networks with trainable encodings (the hash grid of Instant-NGP, a
learned grid), activations with parameters, or networks other than `CoordinateMLP`.
`batchable(net)` says which; the runner fits those one at a time through `inr_bench.train`.

A fit whose loss becomes NaN or infinite is stopped on its own, as `INRFitModule` stops a single
fit: its parameters are not updated from then on (its gradient slice is zeroed before each
step) and its record says "failed"; the other K - 1 fits go on unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from inr_bench.metrics import evaluate_signal, rho_ag
from inr_bench.nn.fused_linear import affine
from inr_bench.nn.mlp import CoordinateMLP
from inr_bench.results import RunRecord

# On a CPU, elementwise work on a (K, N, width) stack is memory-bound: past the cache, a stack of
# K signals costs more per value than one signal (measured on a 2-core x86 CPU, 64x64 images,
# width 256, K = 8: one chunk of all points was ~1.25x slower than 8 separate fits; chunks of
# 512-1024 points per signal were on par with or faster than them). Chunks of this many rows
# (K x points) keep each layer's activations in cache; the gradient is accumulated exactly.
CPU_ROWS_PER_CHUNK = 8192


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


class BatchedCoordinateMLP(nn.Module):
    """K CoordinateMLPs as one module: coordinates (K, N, in) -> values (K, N, out).

    Built from K separately initialised networks (`from_networks`), whose parameters are copied
    into the stack; `network(k)` copies slice k back into a plain CoordinateMLP.
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

    @classmethod
    def from_networks(cls, nets: Sequence[CoordinateMLP]) -> BatchedCoordinateMLP:
        return cls(nets)

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
        import copy

        net = copy.deepcopy(self._template)
        net.encoding = copy.deepcopy(self.encodings[k])
        for i, layer in enumerate(net.linears):
            layer.weight.copy_(self.weights[i][k])
            layer.bias.copy_(self.biases[i][k, 0])
        net.head.weight.copy_(self.head_weight[k])
        net.head.bias.copy_(self.head_bias[k, 0])
        return net


@dataclass
class BatchedFitResult:
    """Per-signal records (metrics.json format) of one batched fit."""

    records: list[RunRecord]
    seconds: float
    steps: int
    failed: list[int] = field(default_factory=list)


def _split(tensor: torch.Tensor, chunk: int | None) -> list[torch.Tensor]:
    return list(torch.split(tensor, chunk, dim=1)) if chunk else [tensor]


@torch.no_grad()
def predict(model: BatchedCoordinateMLP, coords: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """Predictions (K, N, out) in chunks of points (bounded memory)."""
    return torch.cat([model(part) for part in _split(coords, chunk_size)], dim=1)


def fit_batched(
    nets: Sequence[CoordinateMLP],
    coords: torch.Tensor,
    values: torch.Tensor,
    signal_shape: tuple[int, ...],
    data_range: float,
    optimizer: Callable[..., torch.optim.Optimizer],
    max_steps: int,
    eval_steps: Sequence[int],
    records: Sequence[RunRecord] | None = None,
    rho_variant: str = "reference",
    chunk_size: int | None = None,
    eval_chunk_size: int | None = None,
    track_rho_every_step: bool = True,
    device: torch.device | str | None = None,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    on_end: Callable[[BatchedCoordinateMLP, list[RunRecord]], None] | None = None,
    cpu_rows_per_chunk: int | None = CPU_ROWS_PER_CHUNK,
) -> BatchedFitResult:
    """Fit network k to signal k for k < K, all at once; full-batch Adam, `max_steps` steps.

    `coords` is (N, d) (one grid for all) or (K, N, d); `values` is (K, N, C). The loss of
    signal k is its MSE; the optimiser minimises the sum over k, which gives each network its
    own update (module docstring). After the updates listed in `eval_steps` (and the last one)
    every signal is evaluated in full (`evaluate_signal`), as `EvaluationCallback` does for one
    fit; the records also get the loss curve and the best loss and rho_AG seen at any step
    (the loss a step computes belongs to the parameters before its update: step - 1).
    `chunk_size` splits the points of every step into chunks whose accumulated gradient is the
    full-batch one; on a CPU without `chunk_size`, chunks of `cpu_rows_per_chunk // K` points
    keep each layer's K x chunk rows in cache (see CPU_ROWS_PER_CHUNK); on a GPU the whole signal
    is one chunk. `optimizer` is a factory taking the parameters; `on_step(step, losses)`
    is called after every update, `on_end(model, records)` once at the end (pictures).
    """
    import time

    device = torch.device(device) if device is not None else coords.device
    k = len(nets)
    model = BatchedCoordinateMLP(nets).to(device)
    coords = coords.to(device)
    values = values.to(device)
    if values.ndim != 3 or values.shape[0] != k:
        raise ValueError(f"values must be (K={k}, N, C), got {tuple(values.shape)}")
    if coords.ndim == 2:
        coords = coords.unsqueeze(0).expand(k, -1, -1)
    n_values = values.shape[1] * values.shape[2]
    records = list(records) if records is not None else [RunRecord() for _ in range(k)]
    evals = {int(s) for s in eval_steps if 0 < int(s) <= max_steps} | {max_steps}
    opt = optimizer(model.parameters())
    alive = torch.ones(k, dtype=torch.bool)
    failed: list[int] = []
    frozen: dict[int, list[torch.Tensor]] = {}
    if chunk_size is None and device.type == "cpu" and cpu_rows_per_chunk:
        chunk_size = max(1, cpu_rows_per_chunk // k)
    if chunk_size is not None and chunk_size >= values.shape[1]:
        chunk_size = None
    # The training predictions cover the whole signal at every step (the chunks partition it):
    # keep them for the per-step rho_AG unless they are large.
    keep_predictions = k * values.shape[1] * values.shape[2] <= 1 << 24
    start = time.perf_counter()
    for step in range(1, max_steps + 1):
        opt.zero_grad(set_to_none=True)
        squared_error = torch.zeros(k, dtype=torch.float64, device=device)
        predictions = []
        for part_coords, part_values in zip(
            _split(coords, chunk_size), _split(values, chunk_size), strict=True
        ):
            pred = model(part_coords)
            per_signal = (pred - part_values).pow(2).sum(dim=(1, 2))
            (per_signal.sum() / n_values).backward()
            squared_error += per_signal.detach().double()
            if keep_predictions:
                predictions.append(pred.detach())
        losses = (squared_error / n_values).cpu()
        newly_dead = (alive & ~torch.isfinite(losses)).nonzero().flatten().tolist()
        for index in newly_dead:
            # As INRFitModule: stop before the update, so the recorded state stays finite.
            alive[index] = False
            failed.append(index)
            frozen[index] = [param.detach()[index].clone() for param in model.parameters()]
            records[index].status = "failed"
            records[index].reason = (
                f"NonFiniteLossError: The training loss became {float(losses[index])} at step {step}. "
                f"The fit was stopped before that update; the other fits of its batch went on."
            )
        if frozen:
            for param in model.parameters():
                if param.grad is not None:
                    param.grad[~alive.to(device)] = 0.0
        opt.step()
        if frozen:  # Adam's momentum would still move a stopped fit: put its parameters back
            with torch.no_grad():
                for index, saved in frozen.items():
                    for param, value in zip(model.parameters(), saved, strict=True):
                        param[index] = value
        if on_step is not None:
            on_step(step, losses)
        rhos = None
        if track_rho_every_step and keep_predictions:
            pred = torch.cat(predictions, dim=1).reshape(k, *signal_shape, -1)
            rhos = rho_ag(pred, values.reshape(k, *signal_shape, -1), len(signal_shape), rho_variant).tolist()
        for index in alive.nonzero().flatten().tolist():
            loss = float(losses[index])
            records[index].add_curve_point(step - 1, loss)
            records[index].observe(step - 1, loss, rhos[index] if rhos is not None else None)
        if step in evals:
            pred_all = predict(model, coords, eval_chunk_size)
            for index in range(k):
                if not alive[index]:
                    continue
                metrics = evaluate_signal(
                    pred_all[index], values[index], signal_shape, data_range, rho_variant
                )
                records[index].add_eval(step, metrics)
        if not alive.any():
            break
    seconds = time.perf_counter() - start
    for index in range(k):
        if alive[index]:
            records[index].status = "ok"
    if on_end is not None:
        on_end(model, records)
    return BatchedFitResult(records=records, seconds=seconds, steps=max_steps, failed=failed)
