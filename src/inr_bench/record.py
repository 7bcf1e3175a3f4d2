"""The one result record: a run's `metrics.json` and a table's per-signal result file.

metrics.json is the stable interface later tools read (README, "Results"):
{"status": "running"|"ok"|"failed", "model", "label", "delta", "data", "evals": [{"step",
"loss", "psnr", "psnr_paper", "ssim", "rho_ag"}, ...], "best": {"loss", "loss_step",
"rho_ag", "rho_ag_step"}, "final": <last eval, or "restored_best">, "restored_best": <with
restore_best: the evaluation of the lowest-loss parameters the fit ended on>, "reason": <why it failed, or null>,
"task": {...}, "info": {..., "fingerprint", "environment"}, "schema_version"}.

A table's result file (`tables/runner.py`) is the same record plus the loss curve, the signal
("signal") and how the table fitted it ("table"). Both are made here, by `RunRecord`.

The fingerprint is a hash of the settings that decide a fit's result (`run_settings`): the
resolved model node (its damping included only when the model has one), the data and task
nodes, seed, steps, evaluation, precision and the environment switches that change results
(the fused kernels, TF32). A table refuses to mix results of different fingerprints.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from inr_bench.atomic import write_json_atomic, write_text_atomic

SCHEMA_VERSION = 2
# Model keys that only say how a model is shown (not what it computes): not in the fingerprint.
PRESENTATION_KEYS = ("label", "table_order")


def environment(cfg: DictConfig | None = None) -> dict:
    """The switches outside the model config that change a run's numbers, and the versions."""
    from inr_bench.nn.fused import fused_enabled, min_fused_numel

    return {
        "fused_kernels": fused_enabled(),  # INR_BENCH_FUSED
        "fused_min_numel": min_fused_numel(),  # INR_BENCH_FUSED_MIN_NUMEL
        "tf32": bool(cfg.get("tf32", False)) if cfg is not None else None,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "torch": str(torch.__version__),
    }


def run_settings(cfg: DictConfig) -> dict:
    """What decides a fit's result, as plain data (see the module docstring).

    The model node is resolved (its damping is an interpolation of `delta`); data and task stay
    unresolved, so a data root that moved (`${paths.data_root}`) does not change them."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    for key in PRESENTATION_KEYS:
        model.pop(key, None)
    return {
        "model": model,
        "data": OmegaConf.to_container(cfg.data, resolve=False),
        "task": OmegaConf.to_container(cfg.task, resolve=False),
        "seed": cfg.seed,
        "eval_steps": list(cfg.eval_steps),
        "rho_variant": cfg.rho_variant,
        "max_steps": cfg.trainer.get("max_steps"),
        "precision": str(cfg.trainer.get("precision")),
        "tf32": bool(cfg.tf32),
        "restore_best": bool(cfg.get("restore_best", False)),
        "fused_kernels": environment(cfg)["fused_kernels"],
    }


def fingerprint(settings: dict) -> str:
    """A short hash of `run_settings`."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class RunRecord:
    """Everything metrics.json holds, built up while a run goes."""

    model: str | None = None
    label: str | None = None
    delta: str | None = None
    data: str | None = None
    status: str = "running"
    evals: list[dict] = field(default_factory=list)
    best: dict = field(
        default_factory=lambda: {"loss": None, "loss_step": None, "rho_ag": None, "rho_ag_step": None}
    )
    reason: str | None = None
    task: dict | None = None
    info: dict = field(default_factory=dict)
    # With restore_best: the evaluation of the lowest-loss parameters the fit ended on
    # ("step": the updates they had); it is then the record's "final".
    restored_best: dict | None = None
    loss_curve: list[tuple[int, float]] = field(default_factory=list)

    @classmethod
    def for_run(cls, cfg: DictConfig, datamodule, parameters: int) -> RunRecord:
        """A new record of the run `cfg` fitting `datamodule`'s signal with `parameters` weights."""
        record = cls(
            model=cfg.model.name,
            label=cfg.model.get("label"),
            delta=cfg.model.get("damping"),
            data=cfg.data.name,
            info={
                "signal_kind": datamodule.kind,
                "signal_shape": list(datamodule.signal_shape),
                "channels": datamodule.out_features,
                "source": getattr(datamodule, "source", None),
                "parameters": parameters,
                "max_steps": cfg.trainer.max_steps,
                "seed": cfg.seed,
                "table_order": cfg.model.get("table_order"),
                "psnr_convention": f"10*log10(range^2/MSE), range={datamodule.data_range:g} (values in [-1, 1])",
                "psnr_paper_convention": "20*log10(255/MSE_255), the SPDER reference code's, for comparison only",
                "rho_ag_variant": cfg.rho_variant,
                "loss": "MSE over all values",
                "data_range": float(datamodule.data_range),
                "fingerprint": fingerprint(run_settings(cfg)),
                "environment": environment(cfg),
            },
        )
        if getattr(datamodule, "subgrid", None) is not None:  # the evals score what was trained on
            axis, stride = datamodule.subgrid
            record.info["evals_scope"] = (
                f"training points only: every {stride}th sample along axis {axis} of the whole signal "
                f"{list(datamodule.full_signal_shape)}; the held-out points are scored under 'task'"
            )
        return record

    def observe(self, step: int, loss: float, rho_ag: float | None = None) -> None:
        """Track the lowest loss and highest rho_AG seen, and the loss curve.

        `step` counts the optimiser updates the measured parameters have had."""
        if math.isfinite(loss) and (self.best["loss"] is None or loss < self.best["loss"]):
            self.best["loss"], self.best["loss_step"] = loss, step
        if rho_ag is not None and math.isfinite(rho_ag):
            if self.best["rho_ag"] is None or rho_ag > self.best["rho_ag"]:
                self.best["rho_ag"], self.best["rho_ag_step"] = rho_ag, step

    def add_curve_point(self, step: int, loss: float) -> None:
        if not self.loss_curve or step > self.loss_curve[-1][0]:
            self.loss_curve.append((step, loss))

    def add_eval(self, step: int, metrics: dict) -> None:
        self.evals = [entry for entry in self.evals if entry["step"] != step]
        self.evals.append({"step": step, **metrics})
        self.evals.sort(key=lambda entry: entry["step"])
        self.observe(step, metrics["loss"], metrics.get("rho_ag"))

    def fail(self, error: BaseException | str) -> None:
        self.status = "failed"
        self.reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"

    def as_json(self, with_loss_curve: bool = False) -> dict:
        payload = asdict(self)
        curve = payload.pop("loss_curve")
        payload["final"] = self.restored_best or (self.evals[-1] if self.evals else None)
        payload["schema_version"] = SCHEMA_VERSION
        if with_loss_curve:
            payload["loss_curve"] = [list(point) for point in curve]
        return payload

    def write(self, out_dir: str | os.PathLike) -> Path:
        """metrics.json (and loss_curve.csv) into a run folder."""
        out_dir = Path(out_dir)
        if self.loss_curve:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(["step", "loss"])
            writer.writerows(self.loss_curve)
            write_text_atomic(out_dir / "loss_curve.csv", buffer.getvalue())
        return write_json_atomic(out_dir / "metrics.json", self.as_json())

    def write_table_result(self, path: str | os.PathLike, signal: dict, table: dict) -> Path:
        """A table's result file: the record, its loss curve, the signal and the table's notes."""
        payload = self.as_json(with_loss_curve=True)
        payload["signal"] = signal
        payload["table"] = table
        return write_json_atomic(path, payload)

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            if key == "loss_curve":
                value = [tuple(point) for point in value]
            if key in self.__dataclass_fields__:
                setattr(self, key, value)

    @classmethod
    def from_json(cls, payload: dict) -> RunRecord:
        """A record read back from metrics.json or a table's result file."""
        record = cls()
        record.load_state_dict({k: v for k, v in payload.items() if k in cls.__dataclass_fields__})
        return record

    @classmethod
    def read(cls, run_dir: str | os.PathLike) -> RunRecord | None:
        """The record a run folder holds (metrics.json and loss_curve.csv), or None."""
        run_dir = Path(run_dir)
        try:
            record = cls.from_json(read_metrics(run_dir))
        except (OSError, ValueError):
            return None
        curve = run_dir / "loss_curve.csv"
        if curve.is_file():
            with curve.open() as stream:
                rows = list(csv.reader(stream))[1:]
            record.loss_curve = [(int(step), float(loss)) for step, loss in rows]
        return record


def read_metrics(path: str | os.PathLike) -> dict:
    """Load a metrics.json (a run folder or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    return json.loads(path.read_text())
