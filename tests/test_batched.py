"""Batched many-signal fitting equals K separate fits (inr_bench.fitting.batched)."""

from __future__ import annotations

import functools
import json
import math
import statistics

import numpy as np
import pytest
import torch

from inr_bench.data.base import coordinate_grid
from inr_bench.data.image import preprocess_image, read_image_file
from inr_bench.fitting.batched import fit_batched
from inr_bench.metrics import evaluate_signal
from inr_bench.nn.activations import DampedSine, ReLU
from inr_bench.nn.encodings import GaussianFourierFeatures
from inr_bench.nn.hash_grid import HashGridEncoding
from inr_bench.nn.mlp import CoordinateMLP
from inr_bench.nn.stacked_mlp import StackedCoordinateMLP, batchable

SIZE, WIDTH, LAYERS, STEPS = 16, 32, 2, 20
# Eager activations (fused=False): the equality under test does not depend on the activation's
# kernel (both sides use the same one), and eager skips compilation time in a short test.


# Tiny problems: a second intra-op thread only spins when others share the CPU.
pytestmark = pytest.mark.usefixtures("one_thread")


def fit_images(nets, coords, values, lr: float = 1e-4, **kwargs):
    """fit_batched on SIZE x SIZE images in [-1, 1] with Adam(lr)."""
    return fit_batched(
        nets, coords, values, (SIZE, SIZE), 2.0, functools.partial(torch.optim.Adam, lr=lr), **kwargs
    )


def div2k_signals(shared_data, count: int, size: int = SIZE) -> torch.Tensor:
    """(count, size*size, 1) channel 0 of the first real DIV2K crops, in [-1, 1]."""
    files = sorted((shared_data / "div2k").glob("*.png"))[:count]
    arrays = [preprocess_image(read_image_file(path), size) for path in files]
    return torch.from_numpy(np.stack([a.reshape(-1, a.shape[-1]) for a in arrays]))


def make_nets(count: int, activation, seed0: int = 0, encoding=None) -> list[CoordinateMLP]:
    nets = []
    for k in range(count):
        torch.manual_seed(seed0 + k)  # separately initialised: every network differs
        nets.append(CoordinateMLP(2, 1, activation, width=WIDTH, hidden_layers=LAYERS, encoding=encoding))
    return nets


def separate_fit(net: CoordinateMLP, coords, values, steps: int, lr: float) -> tuple[list[float], dict]:
    """One network alone, as INRFitModule fits it: sum of squares / N, Adam, full batch."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        error = (net(coords) - values).pow(2).sum()
        (error / values.numel()).backward()
        losses.append(float(error.detach().double()) / values.numel())
        opt.step()
    with torch.no_grad():
        final = evaluate_signal(net(coords), values, (SIZE, SIZE), 2.0)
    return losses, final


@pytest.mark.parametrize(
    "name, activation, lr",
    [
        ("spder", functools.partial(DampedSine, damping="sqrt", fused=False), 1e-4),
        ("siren", functools.partial(DampedSine, damping="one", fused=False), 1e-4),
        ("relu", ReLU, 1e-3),
    ],
)
def test_k_batched_fits_equal_k_separate_fits(shared_data, name, activation, lr):
    k = 4
    values = div2k_signals(shared_data, k)
    coords = coordinate_grid((SIZE, SIZE))
    nets = make_nets(k, activation)
    separate = [separate_fit(_copy(net), coords, values[i], STEPS, lr) for i, net in enumerate(nets)]

    result = fit_images(
        nets,
        coords,
        values,
        lr=lr,
        max_steps=STEPS,
        eval_steps=[5],
        track_rho_every_step=False,
    )
    for i, record in enumerate(result.records):
        losses, final = separate[i]
        assert record.status == "ok"
        curve = [loss for _, loss in record.loss_curve]
        assert len(curve) == STEPS
        # float32 rounding: the batched and single matrix products add in different orders
        np.testing.assert_allclose(curve, losses, rtol=2e-4, atol=0)
        assert [entry["step"] for entry in record.evals] == [5, STEPS]
        assert record.evals[-1]["loss"] == pytest.approx(final["loss"], rel=1e-3)
        assert record.evals[-1]["psnr"] == pytest.approx(final["psnr"], abs=5e-3)
        assert record.evals[-1]["rho_ag"] == pytest.approx(final["rho_ag"], abs=1e-6)
        # the loss really fell: these are fits, not a no-op
        assert curve[-1] < 0.95 * curve[0]


def _copy(net):
    import copy

    return copy.deepcopy(net)


def test_parameters_after_batched_fit_equal_separate_parameters(shared_data):
    k = 3
    values = div2k_signals(shared_data, k)
    coords = coordinate_grid((SIZE, SIZE))
    nets = make_nets(k, functools.partial(DampedSine, damping="sqrt", fused=False), seed0=10)
    alone = [_copy(net) for net in nets]
    for i, net in enumerate(alone):
        separate_fit(net, coords, values[i], STEPS, 1e-4)
    stack = StackedCoordinateMLP(nets)
    opt = torch.optim.Adam(stack.parameters(), lr=1e-4)
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        (stack(coords) - values).pow(2).sum(dim=(1, 2)).div(values[0].numel()).sum().backward()
        opt.step()
    for i, net in enumerate(alone):
        batched_net = stack.network(i)
        for (name, a), (_, b) in zip(net.named_parameters(), batched_net.named_parameters(), strict=True):
            scale = a.detach().abs().max().item()
            np.testing.assert_allclose(
                b.detach().numpy(), a.detach().numpy(), rtol=0, atol=1e-5 * scale, err_msg=name
            )


def test_fourier_feature_buffers_stay_per_network(shared_data):
    """Encodings without parameters but with per-network buffers (Fourier features' B)."""
    k = 2
    values = div2k_signals(shared_data, k)
    coords = coordinate_grid((SIZE, SIZE))
    encoding = functools.partial(GaussianFourierFeatures, num_features=8, scale=2.0)
    nets = make_nets(k, ReLU, encoding=encoding)
    assert not torch.equal(nets[0].encoding.B, nets[1].encoding.B)
    stack = StackedCoordinateMLP(nets)
    with torch.no_grad():
        out = stack(coords)
        for i, net in enumerate(nets):
            torch.testing.assert_close(out[i], net(coords), rtol=1e-5, atol=1e-6)
    assert values.shape[0] == k


def test_hash_grid_networks_are_not_batchable():
    net = CoordinateMLP(
        2,
        1,
        ReLU,
        width=16,
        hidden_layers=1,
        encoding=functools.partial(HashGridEncoding, log2_table_size=10),
    )
    ok, why = batchable(net)
    assert not ok and "trainable" in why
    with pytest.raises(ValueError):
        StackedCoordinateMLP([net])


def test_a_diverging_fit_fails_alone_and_the_others_go_on(shared_data):
    k = 3
    values = div2k_signals(shared_data, k).clone()
    values[1, 7, 0] = math.nan  # one corrupt value: signal 1's loss is NaN from step 1
    coords = coordinate_grid((SIZE, SIZE))
    nets = make_nets(k, functools.partial(DampedSine, damping="sqrt", fused=False))
    reference = separate_fit(_copy(nets[2]), coords, values[2], 10, 1e-4)[0]
    result = fit_images(nets, coords, values, max_steps=10, eval_steps=[5])
    assert result.failed == [1]
    assert result.records[1].status == "failed" and "NonFiniteLossError" in result.records[1].reason
    assert result.records[1].evals == []
    for i in (0, 2):
        assert result.records[i].status == "ok"
        assert [entry["step"] for entry in result.records[i].evals] == [5, 10]
    np.testing.assert_allclose([loss for _, loss in result.records[2].loss_curve], reference, rtol=2e-4)


def test_benchmark_command_reports_a_ratio(shared_data, monkeypatch, tmp_path):
    """`python -m inr_bench.perf.batched_speed` runs and reports; speed itself is never asserted."""
    from inr_bench.perf.batched_speed import main

    monkeypatch.setenv("INR_BENCH_FUSED", "0")
    out = tmp_path / "bench.json"
    report = main(
        [
            "--k",
            "2",
            "--size",
            "8",
            "--steps",
            "2",
            "--override=model.net.width=16",
            "--override=model.net.hidden_layers=1",
            "--warmup",
            "1",
            "--threads",
            "1",
            "--out",
            str(out),
        ]
    )
    (row,) = report["rows"]
    assert row["k"] == 2
    # the figures are what they say they are: medians of the runs, and their ratios
    assert len(row["sequential_runs_s"]) == len(row["batched_runs_s"]) >= 1
    assert row["sequential_s"] == statistics.median(row["sequential_runs_s"])
    assert row["batched_s"] == statistics.median(row["batched_runs_s"])
    assert row["ratio_sequential_over_batched"] == pytest.approx(row["sequential_s"] / row["batched_s"])
    assert row["batched_fits_per_s"] == pytest.approx(2 / row["batched_s"])
    assert all(t > 0 for t in row["sequential_runs_s"] + row["batched_runs_s"])
    # the file holds the report returned
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert report["machine"]["torch"] == torch.__version__


def test_chunks_of_points_give_the_full_batch_fit(shared_data):
    """The CPU path splits the points into chunks; the accumulated gradient is the full one."""
    k = 2
    values = div2k_signals(shared_data, k)
    coords = coordinate_grid((SIZE, SIZE))
    nets = make_nets(k, functools.partial(DampedSine, damping="sqrt", fused=False))
    runs = [
        fit_images(
            [_copy(net) for net in nets],
            coords,
            values,
            max_steps=10,
            eval_steps=[],
            chunk_size=chunk,
        )
        for chunk in (None, 48)
    ]
    for whole, chunked in zip(runs[0].records, runs[1].records, strict=True):
        np.testing.assert_allclose(
            [loss for _, loss in chunked.loss_curve], [loss for _, loss in whole.loss_curve], rtol=2e-4
        )
        assert chunked.best["rho_ag"] == pytest.approx(whole.best["rho_ag"], abs=1e-5)


def test_timing_the_sequential_fits_leaves_the_callers_networks_untouched(shared_data):
    """The H200 run found the sequential warm-up training (and moving) the caller's first network
    in place, so the batched timing that follows stacked a trained network on another device."""
    from inr_bench.perf.batched_speed import load_signals, make_nets, time_sequential

    nets, optimizer = make_nets(2, ["model.net.width=16", "model.net.hidden_layers=1"])
    before = [[p.detach().clone() for p in net.parameters()] for net in nets]
    time_sequential(nets, optimizer, coordinate_grid((8, 8)), load_signals(2, 8), 3, torch.device("cpu"))
    for net, params in zip(nets, before, strict=True):
        for now, then in zip(net.parameters(), params, strict=True):
            assert torch.equal(now.detach(), then)
