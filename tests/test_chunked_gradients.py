"""Chunked training accumulates exactly the full-batch gradient."""

from functools import partial

import lightning as L
import torch

from conftest import module_for
from inr_bench.data.image import ImageDataModule
from inr_bench.nn.activations import DampedSine
from inr_bench.nn.mlp import CoordinateMLP


class _FakeTrainer:
    world_size = 1
    strategy = None


def gradients_after_one_step(chunk_size):
    dm = ImageDataModule(name="camera", picture="camera", size=24, chunk_size=chunk_size)
    dm.setup()
    torch.manual_seed(0)
    module = module_for(
        dm,
        "model.net.activation.fused=false",
        "model.net.width=32",
        "model.net.hidden_layers=2",
    ).double()
    trainer = L.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    dm.values = dm.values.double()
    dm.coords = dm.coords.double()
    captured = {}

    class Capture(L.Callback):
        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            captured.update({n: p.grad.clone() for n, p in pl_module.named_parameters()})

    trainer.callbacks.append(Capture())
    trainer.fit(module, datamodule=dm)
    return captured, dm


def test_chunked_gradient_equals_full_batch():
    full, dm = gradients_after_one_step(None)
    chunked, _ = gradients_after_one_step(100)  # 576 points in 6 unequal chunks
    assert full and full.keys() == chunked.keys()
    for name in full:
        torch.testing.assert_close(chunked[name], full[name], rtol=1e-10, atol=1e-14)
    # And the full-batch gradient is that of the MSE over the whole image.
    torch.manual_seed(0)
    net = CoordinateMLP(
        2, 1, partial(DampedSine, damping="sqrt", fused=False), width=32, hidden_layers=2
    ).double()
    torch.mean((net(dm.coords) - dm.values) ** 2).backward()
    for name, param in net.named_parameters():
        torch.testing.assert_close(full[f"net.{name}"], param.grad, rtol=1e-10, atol=1e-14)
