"""Extending inr_bench without editing it: a new damping is a registry entry plus a YAML file, a
new model is a YAML file, both in the user's own config folder on Hydra's search path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import compose_config, tiny
from inr_bench.config import compose_config as compose_package_config
from inr_bench.config import group_options
from inr_bench.nn import fused
from inr_bench.nn.damping import DAMPINGS, Damping, register_damping
from inr_bench.tables.runner import run_tables
from inr_bench.train import train

pytestmark = pytest.mark.usefixtures("one_thread")

DATA = ["data=div2k", "data.size=16", "save_outputs=false"]
SMALL = [*DATA, "model.net.width=32", "model.net.hidden_layers=2"]


def cube_root() -> Damping:
    """delta(u) = |u|^(1/3), clamped at eps like sqrt; its derivative sign(u) |u|^(-2/3) / 3."""

    def function(u, eps):
        return torch.pow(torch.clamp(torch.abs(u), min=eps), 1.0 / 3.0)

    def derivative(v, eps):
        magnitude = torch.clamp(torch.abs(v), min=eps)
        return torch.where(torch.abs(v) >= eps, torch.sign(v) * torch.pow(magnitude, -2.0 / 3.0) / 3.0, 0.0)

    return Damping("cube_root", function, derivative, "|u|^(1/3)", "a test's own damping")


@pytest.fixture
def user_config(tmp_path, monkeypatch):
    """A user's config folder with delta/cube_root.yaml and model/tiny_siren.yaml, and the
    damping registered for this test only."""
    folder = tmp_path / "my_conf"
    (folder / "delta").mkdir(parents=True)
    (folder / "delta" / "cube_root.yaml").write_text("name: cube_root\n")
    (folder / "model").mkdir()
    (folder / "model" / "tiny_siren.yaml").write_text(
        "defaults:\n  - siren\n  - _self_\nname: tiny_siren\nlabel: Tiny SIREN (mine)\ntable_order: 45\n"
        "net:\n  width: 16\n  hidden_layers: 1\n"
    )
    monkeypatch.setitem(DAMPINGS, "cube_root", cube_root())
    return f"hydra.searchpath=[file://{folder}]"


def losses(run_dir) -> np.ndarray:
    return np.loadtxt(run_dir / "loss_curve.csv", delimiter=",", skiprows=1)[:, 1]


def test_a_new_damping_fits_through_the_reference_and_the_fused_path(tmp_path, user_config, monkeypatch):
    monkeypatch.setenv("INR_BENCH_FUSED_MIN_NUMEL", "0")  # fuse even these tiny activations
    run = [user_config, "delta=cube_root", *SMALL, "trainer.max_steps=15", "eval_steps=[5]"]
    eager = train(tiny(compose_config(tmp_path / "eager", [*run, "model.net.activation.fused=false"])))
    compiled_before = [key for key in fused._CACHE if key[0] is DAMPINGS["cube_root"]]
    fused_run = train(tiny(compose_config(tmp_path / "fused", run)))
    assert not compiled_before and any(key[0] is DAMPINGS["cube_root"] for key in fused._CACHE)
    for record in (eager, fused_run):
        assert record["status"] == "ok" and record["delta"] == "cube_root"
    reference, fast = losses(tmp_path / "eager"), losses(tmp_path / "fused")
    assert fast[-1] < 0.8 * fast[0]  # it fits
    np.testing.assert_allclose(fast, reference, rtol=1e-3)  # the same function, float32 rounding apart
    # the damping really is the cube root: it changes the fit against sqrt from the first step on
    sqrt = train(tiny(compose_config(tmp_path / "sqrt", [*run, "delta=sqrt"])))
    assert sqrt["final"]["loss"] != pytest.approx(fused_run["final"]["loss"], rel=1e-3)
    assert not np.allclose(losses(tmp_path / "sqrt")[1:], fast[1:], rtol=1e-3)


def test_a_new_damping_and_a_new_model_in_a_two_signal_table(tmp_path, user_config):
    out = tmp_path / "table"
    overrides = [
        user_config,
        "delta=cube_root",
        *DATA,
        "trainer.max_steps=6",
        "eval_steps=[3]",
        "table.models=[spder,tiny_siren]",
        "table.num_signals=2",
        "table.batch_size=2",
        f"table.out_dir={out}",
    ]
    assert "tiny_siren" in group_options("model", [user_config])
    table = run_tables(compose_package_config(overrides, config_name="tables"), overrides).read_text()
    for model in ("spder", "tiny_siren"):
        for signal in ("div2k_0000", "div2k_0001"):
            record = json.loads((out / "results" / model / f"{signal}.json").read_text())
            assert record["status"] == "ok" and record["table"]["mode"] == "batched"
            assert record["delta"] == ("cube_root" if model == "spder" else None)
    assert json.loads((out / "results" / "tiny_siren" / "div2k_0000.json").read_text())["info"][
        "parameters"
    ] == (
        (2 * 16 + 16) + (16 * 16 + 16) + (16 + 1)  # the YAML's own width 16 and one hidden layer
    )
    header = next(line for line in table.splitlines() if line.startswith("| Metric"))
    # the model's label heads its column, placed by its table_order (45 < SPDER's 100)
    assert header == "| Metric | Step | Tiny SIREN (mine) | SPDER |"


def test_register_damping_adds_to_the_registry(monkeypatch):
    monkeypatch.setattr("inr_bench.nn.damping.DAMPINGS", dict(DAMPINGS))
    from inr_bench.nn import damping

    added = register_damping(cube_root())
    assert damping.DAMPINGS["cube_root"] is added and "cube_root" not in DAMPINGS
