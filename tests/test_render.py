"""Rendering a trained image INR at any resolution: the streaming PNG writer, the tiled render
against a direct prediction, and the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import compose_config, tiny
from inr_bench.render import PngStreamWriter, load_network, main, render
from inr_bench.tasks.base import pixel_centre_grid
from inr_bench.train import train
from inr_bench.visualize import to_uint8


@pytest.fixture(autouse=True)
def eager_single_thread(monkeypatch):
    monkeypatch.setenv("INR_BENCH_FUSED", "0")  # no kernel compilation in these tests
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("render_run")
    cfg = tiny(
        compose_config(out, ["data.size=16", "trainer.max_steps=3", "eval_steps=[3]", "save_outputs=false"])
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INR_BENCH_FUSED", "0")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            train(cfg)
        finally:
            torch.set_num_threads(threads)
    return out


@pytest.mark.parametrize("channels", [1, 3])
def test_png_stream_writer_round_trip(tmp_path, channels):
    shape = (7, 5) if channels == 1 else (7, 5, 3)
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    writer = PngStreamWriter(tmp_path / "x.png", 7, 5, channels)
    for top in range(0, 7, 3):  # bands of 3, 3 and 1 rows
        writer.write_rows(pixels[top : top + 3])
    writer.close()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png")), pixels)


def test_png_stream_writer_refuses_missing_rows(tmp_path):
    writer = PngStreamWriter(tmp_path / "y.png", 4, 4, 1)
    writer.write_rows(np.zeros((2, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="2 rows of 4"):
        writer.close()


def test_tiled_render_matches_direct_prediction(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    out = render(ckpt, (40, 24), tmp_path / "r.png", tile=100, device="cpu")  # bands of 4 rows
    rendered = np.asarray(Image.open(out)).astype(int)
    assert rendered.shape == (40, 24)
    net, shape, _, run_dir = load_network(ckpt)
    assert shape == (16, 16) and run_dir == trained_run
    with torch.no_grad():
        direct = net(pixel_centre_grid(shape, (40, 24))).reshape(40, 24, 1).numpy()
    assert np.abs(rendered - to_uint8(direct).astype(int)).max() <= 1  # float rounding across batch sizes
    # at the training size the pixel-centre grid is the training grid
    with torch.no_grad():
        at_base = net(pixel_centre_grid(shape, shape)).reshape(16, 16, 1).numpy()
    same = np.asarray(Image.open(render(ckpt, 16, tmp_path / "b.png", device="cpu"))).astype(int)
    assert np.abs(same - to_uint8(at_base).astype(int)).max() <= 1


def test_render_command_line(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    assert main([f"ckpt={ckpt}", "size=20", f"out={tmp_path / 'c.png'}", "tile=64", "device=cpu"]) == 0
    assert Image.open(tmp_path / "c.png").size == (20, 20)
    assert main([f"ckpt={ckpt}", "size=abc"]) == 2
    assert main(["bogus=1"]) == 2
    proc = subprocess.run(
        [sys.executable, "-m", "inr_bench.render", f"ckpt={tmp_path / 'missing.ckpt'}", "size=8"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "no such checkpoint" in proc.stderr and "Traceback" not in proc.stderr
