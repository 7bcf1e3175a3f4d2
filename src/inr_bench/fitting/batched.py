"""Batched many-signal fitting: K signals of one shape, each with its own network, in one pass.

The K networks become one `StackedCoordinateMLP` (nn/stacked_mlp.py) and every step is the one
fitting step (`fitting/step.py`) over the stack: the loss is the sum of the K per-signal MSEs,
each network's parameters appear in its own term only, so each slice of the gradient is exactly
its own network's gradient, and an elementwise optimiser (Adam) gives every slice the update it
would get alone. Only the order of floating-point additions differs (batched versus single
matrix products): K batched fits equal K separate fits to float32 rounding.

A fit whose loss or gradient becomes NaN or infinite is stopped on its own, as a single fit is
stopped: its parameters are not updated from then on and its record says "failed"; the other
K - 1 fits go on unaffected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from inr_bench.fitting.step import FitStep
from inr_bench.metrics import evaluate_signal, evaluation_steps, rho_ag
from inr_bench.nn.mlp import CoordinateMLP
from inr_bench.nn.stacked_mlp import StackedCoordinateMLP
from inr_bench.record import RunRecord

# On a CPU, elementwise work on a (K, N, width) stack is memory-bound: past the cache, a stack of
# K signals costs more per value than one signal (measured on a 2-core x86 CPU, 64x64 images,
# width 256, K = 8: one chunk of all points was ~1.25x slower than 8 separate fits; chunks of
# 512-1024 points per signal were on par with or faster than them). Chunks of this many rows
# (K x points) keep each layer's activations in cache; the gradient is accumulated exactly.
CPU_ROWS_PER_CHUNK = 8192


@dataclass
class BatchedFitResult:
    """Per-signal records (metrics.json format) of one batched fit."""

    records: list[RunRecord]
    seconds: float
    steps: int
    failed: list[int] = field(default_factory=list)


def batched_chunk_size(
    k: int, points: int, device: torch.device, chunk_size: int | None = None
) -> int | None:
    """Points per chunk of a K-signal step: `chunk_size` if given; on a CPU, cache-sized chunks
    (CPU_ROWS_PER_CHUNK rows in all); else (a GPU) the whole signal at once."""
    if chunk_size is None and device.type == "cpu":
        chunk_size = max(1, CPU_ROWS_PER_CHUNK // k)
    return None if chunk_size is not None and chunk_size >= points else chunk_size


@torch.no_grad()
def predict(model: StackedCoordinateMLP, coords: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """Predictions (K, N, out) in chunks of points (bounded memory)."""
    parts = torch.split(coords, chunk_size, dim=1) if chunk_size else (coords,)
    return torch.cat([model(part) for part in parts], dim=1)


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
    on_end: Callable[[StackedCoordinateMLP, list[RunRecord]], None] | None = None,
    scheduler: Callable[[torch.optim.Optimizer], object] | None = None,
    restore_best: bool = False,
) -> BatchedFitResult:
    """Fit network k to signal k for k < K, all at once; full-batch, `max_steps` steps.

    `coords` is (N, d) (one grid for all) or (K, N, d); `values` is (K, N, C); `optimizer` is
    a factory taking the parameters, `scheduler` (optional) one taking the optimiser (the
    schedule is the same for every signal, as in K separate fits). After the updates of `evaluation_steps(eval_steps,
    max_steps)` every signal is evaluated in full (`evaluate_signal`), as the evaluation
    callback does for one fit; the records also get the loss curve and the best loss and rho_AG
    seen at any step (the loss a step computes belongs to the parameters before its update:
    step - 1). `on_step(step, losses)` is called after every update, `on_end(model, records)`
    once at the end (pictures).
    """
    device = torch.device(device) if device is not None else coords.device
    k = len(nets)
    model = StackedCoordinateMLP(nets).to(device)
    coords, values = coords.to(device), values.to(device)
    if values.ndim != 3 or values.shape[0] != k:
        raise ValueError(f"values must be (K={k}, N, C), got {tuple(values.shape)}")
    if coords.ndim == 2:
        coords = coords.unsqueeze(0).expand(k, -1, -1)
    records = list(records) if records is not None else [RunRecord() for _ in range(k)]
    evals = set(evaluation_steps(eval_steps, max_steps))
    stacked_optimizer = optimizer(model.parameters())
    step_once = FitStep(
        model,
        stacked_optimizer,
        scheduler=scheduler(stacked_optimizer) if scheduler is not None else None,
        stacked=True,
        chunk_size=batched_chunk_size(k, values.shape[1], device, chunk_size),
        keep_predictions=track_rho_every_step,
        track_best=restore_best,
    )
    failed: list[int] = []
    start = time.perf_counter()
    for step in range(1, max_steps + 1):
        result = step_once(coords, values, step=step)
        for index, reason in result.stopped.items():
            failed.append(index)
            records[index].fail(reason)
        if on_step is not None:
            on_step(step, result.losses)
        alive = [index for index in range(k) if index not in step_once.frozen]
        rhos = None
        if result.predictions is not None:
            shape = (k, *signal_shape, -1)
            rhos = rho_ag(
                result.predictions.reshape(shape), values.reshape(shape), len(signal_shape), rho_variant
            )
            rhos = rhos.tolist()
        for index in alive:
            loss = float(result.losses[index])
            records[index].add_curve_point(step - 1, loss)
            records[index].observe(step - 1, loss, rhos[index] if rhos is not None else None)
        if step in evals:
            pred_all = predict(model, coords, eval_chunk_size)
            for index in alive:
                metrics = evaluate_signal(
                    pred_all[index], values[index], signal_shape, data_range, rho_variant
                )
                records[index].add_eval(step, metrics)
        if not alive:
            break
    if restore_best:
        last = {index: records[index].evals[-1]["loss"] for index in alive if records[index].evals}
        updates = step_once.restore_best(last)
        pred_all = predict(model, coords, eval_chunk_size) if updates else None
        for index in alive:
            if index in updates:
                metrics = evaluate_signal(
                    pred_all[index], values[index], signal_shape, data_range, rho_variant
                )
                records[index].restored_best = {"step": updates[index], **metrics, "restored_best": True}
            elif records[index].evals:  # the last update's state is the lowest-loss one
                records[index].restored_best = {**records[index].evals[-1], "restored_best": True}
    seconds = time.perf_counter() - start
    for index in range(k):
        if index not in step_once.frozen:
            records[index].status = "ok"
    if on_end is not None:
        on_end(model, records)
    return BatchedFitResult(records=records, seconds=seconds, steps=max_steps, failed=failed)
