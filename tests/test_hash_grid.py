"""Multiresolution hash encoding against a brute-force per-point NumPy reference of the paper."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
import torch

from inr_bench.nn.activations import ReLU
from inr_bench.nn.hash_grid import HashGridEncoding
from inr_bench.nn.mlp import CoordinateMLP
from signals import camera_crop

PRIMES = (1, 2654435761, 805459861)  # Müller et al. 2022, Eq. 4


# Tiny problems: a second intra-op thread only spins when others share the CPU.
pytestmark = pytest.mark.usefixtures("one_thread")


def reference_index(vertex, resolution, dense, table_size):
    """Row of one integer vertex: dense 1:1 layout, else the paper's XOR hash in uint32."""
    if dense:
        return sum(int(v) * (resolution + 1) ** i for i, v in enumerate(vertex))
    hashed = 0
    for v, prime in zip(vertex, PRIMES, strict=False):
        hashed ^= (int(v) * prime) % 2**32
    return hashed % table_size


def reference_encoding(enc: HashGridEncoding, point) -> np.ndarray:
    """Paper's formulation per point: voxel between floor and ceil of x * N_l, d-linear weights."""
    table = enc.embeddings.detach().double().numpy()
    unit = np.clip((np.asarray(point, dtype=np.float64) / enc.bound + 1) / 2, 0, 1)
    d = len(unit)
    outputs = []
    for level in range(enc.num_levels):
        res = enc.resolutions[level]
        dense = (res + 1) ** d <= enc.table_size
        pos = unit * res
        low, high, frac = np.floor(pos), np.ceil(pos), pos - np.floor(pos)
        value = np.zeros(enc.features_per_level)
        for corner in itertools.product((0, 1), repeat=d):
            vertex = [high[i] if c else low[i] for i, c in enumerate(corner)]
            weight = np.prod([frac[i] if c else 1 - frac[i] for i, c in enumerate(corner)])
            row = enc.level_offsets[level] + reference_index(vertex, res, dense, enc.table_size)
            value += weight * table[row]
        outputs.append(value)
    return np.concatenate(outputs)


def small_encoding(d: int) -> HashGridEncoding:
    """Resolutions 4, 8, 16, 32 (b = 2); tables small enough that some levels hash, some don't."""
    log2_table_size = {1: 4, 2: 8, 3: 8}[d]
    enc = HashGridEncoding(
        d, num_levels=4, log2_table_size=log2_table_size, base_resolution=4, finest_resolution=32
    ).double()
    with torch.no_grad():
        enc.embeddings.normal_()  # distinct values, so a wrong row cannot go unnoticed
    return enc


def test_default_levels_follow_the_paper():
    enc = HashGridEncoding(2)
    b = math.exp((math.log(2048) - math.log(16)) / 15)
    assert enc.growth_factor == pytest.approx(b)
    assert enc.resolutions[0] == 16 and enc.resolutions[-1] == 2048
    for level, res in enumerate(enc.resolutions):
        assert res == math.floor(16 * b**level + 1e-9)
    assert enc.out_features == 32 and enc.table_size == 2**19
    assert HashGridEncoding(2, num_levels=8, base_resolution=16, finest_resolution=2048).resolutions == [
        16 * 2**k for k in range(8)
    ]


@pytest.mark.parametrize("d", [1, 2, 3])
def test_parameter_count_matches_formula(d):
    enc = HashGridEncoding(d, log2_table_size=14)
    expected_rows = [min((res + 1) ** d, 2**14) for res in enc.resolutions]
    assert enc.level_sizes == expected_rows
    assert enc.embeddings.numel() == 2 * sum(expected_rows)
    assert sum(p.numel() for p in enc.parameters()) == 2 * sum(expected_rows)
    assert enc.dense == [(res + 1) ** d <= 2**14 for res in enc.resolutions]


def test_tables_start_uniform_within_1e_4():
    table = HashGridEncoding(2, log2_table_size=14).embeddings
    assert table.abs().max().item() <= 1e-4
    assert table.std().item() == pytest.approx(1e-4 / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_vertex_index_matches_reference(d):
    enc = small_encoding(d)
    assert any(enc.dense) and not all(enc.dense)
    rng = np.random.default_rng(d)
    for level, res in enumerate(enc.resolutions):
        vertices = rng.integers(0, res + 1, size=(20, d))
        vertices[0] = res  # the far corner of the grid
        rows = enc.vertex_index(level, torch.from_numpy(vertices)).numpy()
        expected = [reference_index(v, res, enc.dense[level], enc.table_size) for v in vertices]
        np.testing.assert_array_equal(rows, expected)
        assert rows.min() >= 0 and rows.max() < enc.level_sizes[level]


@pytest.mark.parametrize("d", [1, 2, 3])
def test_forward_matches_brute_force_reference(d):
    enc = small_encoding(d)
    rng = np.random.default_rng(10 + d)
    points = [rng.uniform(-1, 1, size=d) for _ in range(6)]
    points += [np.array(corner, dtype=np.float64) for corner in itertools.product((-1.0, 1.0), repeat=d)]
    points += [np.full(d, -1 + 2 * 3 / 8), np.full(d, -1 + 2 * 5 / 32), np.full(d, 0.0)]  # grid vertices
    points += [np.full(d, 1.5), np.full(d, -7.0)]  # outside: clamped to the border
    x = torch.from_numpy(np.stack(points))
    out = enc(x).detach().numpy()
    assert out.shape == (len(points), enc.out_features)
    for point, row in zip(points, out, strict=True):
        np.testing.assert_allclose(row, reference_encoding(enc, point), rtol=1e-12, atol=1e-12)


def test_grid_vertices_and_borders_read_one_table_row():
    enc = small_encoding(2)
    table = enc.embeddings.detach().numpy()
    level, res = 1, 8  # dense level: row = i + j * 9
    for i, j in [(0, 0), (8, 8), (3, 5), (8, 0)]:
        x = torch.tensor([[-1 + 2 * i / res, -1 + 2 * j / res]], dtype=torch.float64)
        features = enc(x).detach().numpy()[0, 2 * level : 2 * level + 2]
        np.testing.assert_allclose(features, table[enc.level_offsets[level] + i + j * (res + 1)], atol=1e-12)


def test_bound_rescales_the_domain():
    enc = small_encoding(1)
    wide = HashGridEncoding(
        1, num_levels=4, log2_table_size=4, base_resolution=4, finest_resolution=32, bound=100.0
    )
    wide = wide.double()
    wide.load_state_dict(enc.state_dict())
    x = torch.linspace(-100, 100, 41, dtype=torch.float64).unsqueeze(-1)
    torch.testing.assert_close(wide(x), enc(x / 100))


def test_gradients_reach_tables_and_inputs():
    enc = small_encoding(2)
    x = (torch.rand(16, 2, dtype=torch.float64) * 2 - 1).requires_grad_()
    enc(x).square().sum().backward()
    assert enc.embeddings.grad.abs().sum() > 0 and x.grad.abs().sum() > 0


def test_rejects_unsupported_dimensions():
    with pytest.raises(ValueError):
        HashGridEncoding(4)
    with pytest.raises(ValueError):
        HashGridEncoding(2, base_resolution=64, finest_resolution=32)


def test_instant_ngp_mlp_layout_and_fit():
    torch.manual_seed(0)
    encoding = functools.partial(HashGridEncoding, log2_table_size=12, finest_resolution=64)
    net = CoordinateMLP(2, 1, activation=ReLU, width=64, hidden_layers=1, encoding=encoding)
    # Two hidden layers of 64 neurons, then the linear head.
    assert [(lin.in_features, lin.out_features) for lin in net.linears] == [(32, 64), (64, 64)]
    mlp_params = (32 * 64 + 64) + (64 * 64 + 64) + (64 + 1)
    assert sum(p.numel() for p in net.parameters()) == net.encoding.embeddings.numel() + mlp_params

    coords, values = camera_crop()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1e-15)  # the paper's
    losses = []
    for _ in range(40):
        loss = torch.mean((net(coords) - values) ** 2)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.05 * losses[0]
