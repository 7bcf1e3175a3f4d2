"""Rendering a trained image INR at any resolution from its checkpoint alone: the tiled render
against a direct prediction, a run folder without its config.yaml, and the command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import compose_config, tiny
from inr_bench.config import compose_config as compose_package_config
from inr_bench.errors import InrBenchError
from inr_bench.render import load_network, render, run
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
        compose_config(
            out,
            [
                "data.size=16",
                "trainer.max_steps=3",
                "eval_steps=[3]",
                "save_outputs=false",
                "model.net.width=32",
            ],
        )
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


def test_tiled_render_matches_direct_prediction(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    out = render(ckpt, (40, 24), tmp_path / "r.png", tile=100, device="cpu")  # bands of 4 rows
    rendered = np.asarray(Image.open(out)).astype(int)
    assert rendered.shape == (40, 24)
    net, shape, channels, scale, run_dir = load_network(ckpt)
    assert shape == (16, 16) and channels == 1 and scale == 1.0 and run_dir == trained_run
    assert net.linears[0].out_features == 32  # the run's own network, from its config
    with torch.no_grad():
        direct = net(pixel_centre_grid(shape, (40, 24))).reshape(40, 24, 1).numpy()
    assert np.abs(rendered - to_uint8(direct).astype(int)).max() <= 1  # float rounding across batch sizes
    # at the training size the pixel-centre grid is the training grid
    with torch.no_grad():
        at_base = net(pixel_centre_grid(shape, shape)).reshape(16, 16, 1).numpy()
    same = np.asarray(Image.open(render(ckpt, 16, tmp_path / "b.png", device="cpu"))).astype(int)
    assert np.abs(same - to_uint8(at_base).astype(int)).max() <= 1


def test_the_checkpoint_alone_rebuilds_the_network(trained_run, tmp_path):
    """A checkpoint copied away from its run folder (no config.yaml, no metrics.json) renders
    the same picture: the checkpoint holds the run's config."""
    alone = tmp_path / "alone.ckpt"
    alone.write_bytes((trained_run / "checkpoints" / "last.ckpt").read_bytes())
    assert not (tmp_path / "config.yaml").exists() and not (tmp_path / "metrics.json").exists()
    copied = np.asarray(Image.open(render(alone, 24, tmp_path / "alone.png", device="cpu")))
    original = np.asarray(
        Image.open(render(trained_run / "checkpoints" / "last.ckpt", 24, tmp_path / "o.png", device="cpu"))
    )
    assert np.array_equal(copied, original)
    # ... and the run folder's config.yaml is not read either
    (trained_run / "config.yaml").rename(trained_run / "config.yaml.hidden")
    try:
        again = np.asarray(
            Image.open(
                render(trained_run / "checkpoints" / "last.ckpt", 24, tmp_path / "a.png", device="cpu")
            )
        )
    finally:
        (trained_run / "config.yaml.hidden").rename(trained_run / "config.yaml")
    assert np.array_equal(again, original)


def test_render_arguments_are_a_config(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    cfg = compose_package_config(
        [f"ckpt={ckpt}", "size=20x12", f"out={tmp_path / 'c.png'}", "tile=64", "device=cpu"],
        config_name="render",
    )
    run(cfg)
    assert Image.open(tmp_path / "c.png").size == (12, 20)
    with pytest.raises(InrBenchError, match="size must be"):
        run(compose_package_config([f"ckpt={ckpt}", "size=abc"], config_name="render"))
    with pytest.raises(InrBenchError, match="ckpt and size missing"):
        run(compose_package_config([], config_name="render"))


@pytest.mark.slow
def test_render_command_line(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    proc = subprocess.run(
        [sys.executable, "-m", "inr_bench.render", f"ckpt={ckpt}", "size=20", f"out={tmp_path / 'd.png'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert Image.open(tmp_path / "d.png").size == (20, 20) and "peak RSS" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "inr_bench.render", f"ckpt={tmp_path / 'missing.ckpt'}", "size=8"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "no such checkpoint" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "inr_bench.render", f"ckpt={ckpt}", "sise=8"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "Did you mean `size`" in proc.stderr
