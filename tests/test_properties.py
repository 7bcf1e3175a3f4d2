"""Property tests (hypothesis) of claims that hold for any size: chunked gradients equal the
full-batch one for any chunk size; coordinates and values round-trip for any signal shape; a
batched fit of K signals equals K separate fits for any K.

Each test draws few, tiny examples (float64 networks of width 8) so that it stays within a few
seconds; `derandomize=True` makes every run draw the same examples (a mutation run or CI must
not pass by luck)."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inr_bench.data.base import CoordinateDataModule, coordinate_grid
from inr_bench.fitting.batched import fit_batched
from inr_bench.fitting.step import FitStep
from inr_bench.nn.activations import DampedSine
from inr_bench.nn.mlp import CoordinateMLP

pytestmark = pytest.mark.usefixtures("one_thread")

FEW = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def tiny_net(in_features: int, out_features: int, seed: int) -> CoordinateMLP:
    torch.manual_seed(seed)
    activation = functools.partial(DampedSine, damping="sqrt", fused=False)
    return CoordinateMLP(in_features, out_features, activation, width=8, hidden_layers=1).double()


def signal(points: int, channels: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    coords = torch.from_numpy(rng.uniform(-1, 1, size=(points, 2)))
    values = torch.from_numpy(rng.uniform(-1, 1, size=(points, channels)))
    return coords, values


# ------------------------------------------------------------------ chunked = full batch


@FEW
@given(
    points=st.integers(1, 40),
    channels=st.integers(1, 3),
    chunk=st.integers(1, 45),
    seed=st.integers(0, 2**16),
)
def test_chunked_gradient_equals_full_batch_for_any_chunk_size(points, channels, chunk, seed):
    """FitStep over chunks of `chunk` points (the last one shorter, or one chunk larger than the
    signal) gives the gradient and loss of the MSE over all points, computed here by autograd."""
    coords, values = signal(points, channels, seed)
    net = tiny_net(2, channels, seed)
    reference = copy.deepcopy(net)
    loss = torch.mean((reference(coords) - values) ** 2)
    loss.backward()
    result = FitStep(net, torch.optim.SGD(net.parameters(), lr=0.0), chunk_size=chunk)(coords, values)
    assert float(result.losses[0]) == pytest.approx(float(loss.detach()), rel=1e-12)
    for (name, p), q in zip(net.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-13, msg=name)
    torch.testing.assert_close(result.predictions, reference(coords).detach(), rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ coordinates and values


class ArrayModule(CoordinateDataModule):
    """A DataModule for a given channels-last array."""

    def __init__(self, array: np.ndarray, coord_scale: float) -> None:
        super().__init__(name="array", coord_scale=coord_scale)
        self.array = array

    def load_signal(self) -> np.ndarray:
        return self.array

    def save_outputs(self, pred_values, out_dir, metrics=None):
        return []


shapes = st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple)


@FEW
@given(shape=shapes, channels=st.integers(1, 3), scale=st.sampled_from([1.0, 2.5, 100.0]))
def test_coordinates_and_values_round_trip_for_any_shape(shape, channels, scale):
    """Value (N, C) row n is the signal at the n-th index in row-major order, and coordinate row n
    is that index's position: axis k of length L at (-1 + 2 i / (L - 1)) * scale (-scale for a
    single sample). signal_array undoes the flattening exactly."""
    array = np.random.default_rng(len(shape)).uniform(-1, 1, size=(*shape, channels)).astype(np.float32)
    dm = ArrayModule(array, scale)
    dm.setup()
    n = int(np.prod(shape))
    assert dm.signal_shape == shape and dm.coord_dim == len(shape) and dm.out_features == channels
    assert dm.num_points == n and dm.coords.shape == (n, len(shape))
    for flat, index in enumerate(np.ndindex(*shape)):
        assert np.array_equal(dm.values[flat].numpy(), array[index])
        expected = [
            (-1 + 2 * i / (length - 1) if length > 1 else -1.0) * scale
            for i, length in zip(index, shape, strict=True)
        ]
        np.testing.assert_allclose(dm.coords[flat].numpy(), expected, rtol=1e-6, atol=1e-6 * scale)
    assert np.array_equal(dm.signal_array(dm.values), array)
    assert torch.equal(dm.coords, coordinate_grid(shape, scale))
    as_float64 = ArrayModule(array.astype(np.float64), scale)
    as_float64.setup()
    assert as_float64.values.dtype == torch.float32 and torch.equal(as_float64.values, dm.values)


def test_keep_subgrid_refuses_what_it_cannot_do():
    dm = ArrayModule(np.zeros((6, 1), dtype=np.float32), 1.0)
    with pytest.raises(RuntimeError, match=r"^keep_subgrid\(\) needs setup\(\) first"):
        dm.keep_subgrid(0, 2)
    dm.setup()
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="stride must be a positive integer, got"):
            dm.keep_subgrid(0, bad)
    dm.keep_subgrid(0, 3)
    with pytest.raises(RuntimeError, match=r"already restricted \(axis, stride\) = \(0, 3\)"):
        dm.keep_subgrid(0, 2)


@FEW
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=3).map(tuple), data=st.data())
def test_a_sub_grid_keeps_the_points_at_their_own_positions(shape, data):
    """keep_subgrid(axis, stride) keeps indices 0, stride, 2 stride, ... along `axis`: the values
    and coordinates of exactly those grid points, in row-major order; the whole signal stays."""
    axis = data.draw(st.integers(0, len(shape) - 1))
    stride = data.draw(st.integers(1, 4))
    channels = data.draw(st.integers(1, 3))
    array = np.arange(np.prod(shape) * channels, dtype=np.float32).reshape(*shape, channels)
    dm = ArrayModule(array, 1.0)
    dm.setup()
    full_coords = dm.coords.clone()
    kept = dm.keep_subgrid(axis, stride)
    assert kept.tolist() == list(range(0, shape[axis], stride))
    sub = np.take(array, kept.numpy(), axis=axis)
    assert dm.signal_shape == sub.shape[:-1]
    assert np.array_equal(dm.signal_array(dm.values), sub)
    grid = full_coords.reshape(*shape, len(shape)).numpy()
    assert np.array_equal(dm.coords.numpy(), np.take(grid, kept.numpy(), axis=axis).reshape(-1, len(shape)))
    assert dm.full_signal_shape == shape and torch.equal(dm.full_coords, full_coords)
    assert dm.subgrid == (axis, stride)


@FEW
@given(points=st.integers(1, 30), world=st.integers(1, 5))
def test_shards_are_contiguous_and_cover_every_point_once(points, world):
    dm = ArrayModule(np.arange(points, dtype=np.float32).reshape(points, 1), 1.0)
    dm.setup()
    shards = [dm.shard(rank, world) for rank in range(world)]
    assert torch.equal(torch.cat([values for _, values in shards]), dm.values)
    assert torch.equal(torch.cat([coords for coords, _ in shards]), dm.coords)
    sizes = [values.shape[0] for _, values in shards]
    assert max(sizes) - min(sizes) <= 1


# ------------------------------------------------------------------ batched = separate


@settings(max_examples=6, deadline=None, derandomize=True)
@given(k=st.integers(1, 4), steps=st.integers(1, 4), chunk=st.sampled_from([None, 7]))
def test_batched_fit_of_k_signals_equals_k_separate_fits(k, steps, chunk):
    """K networks fitted at once (fit_batched: one stacked network, one FitStep) end with the
    parameters and loss curves of the K networks fitted one by one (float64: equal to 1e-10)."""
    side = 5
    coords = coordinate_grid((side, side)).double()
    values = torch.from_numpy(np.random.default_rng(k).uniform(-1, 1, size=(k, side * side, 1)))
    nets = [tiny_net(2, 1, seed) for seed in range(k)]
    stacks = []
    separate = []
    for net, target in zip(copy.deepcopy(nets), values, strict=True):
        step = FitStep(net, torch.optim.Adam(net.parameters(), lr=1e-2))
        curve = [float(step(coords, target).losses[0]) for _ in range(steps)]
        separate.append((net, curve))
    result = fit_batched(
        nets,
        coords,
        values,
        (side, side),
        2.0,
        functools.partial(torch.optim.Adam, lr=1e-2),
        max_steps=steps,
        eval_steps=[],
        chunk_size=chunk,
        track_rho_every_step=False,
        on_end=lambda model, records: stacks.append(model),
    )
    assert result.failed == [] and len(result.records) == k
    stack = stacks.pop()
    for index, (net, curve) in enumerate(separate):
        np.testing.assert_allclose([loss for _, loss in result.records[index].loss_curve], curve, rtol=1e-10)
        for (name, a), (_, b) in zip(
            net.named_parameters(), stack.network(index).named_parameters(), strict=True
        ):
            np.testing.assert_allclose(
                b.detach().numpy(), a.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=name
            )
