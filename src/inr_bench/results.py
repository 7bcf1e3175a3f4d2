"""The run's result record, `metrics.json`, and atomic file writing.

metrics.json is the stable interface later tools read (see README, "Results"):
{"status": "running"|"ok"|"failed", "model", "delta", "data", "evals": [{"step", "loss",
"psnr", "psnr_paper", "ssim", "rho_ag"}, ...], "best": {"loss", "loss_step", "rho_ag",
"rho_ag_step"}, "final": <last eval>, "reason": <why it failed, or null>, "task": {...},
"info": {...}}.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
# New result files get the usual permissions (0666 minus the umask); mkstemp alone gives 0600.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` so that readers only ever see the old or the whole new file: a
    temporary file beside it (same file system, so the rename is atomic), synced, then renamed.
    A process killed mid-write leaves at most a hidden `.<name>.*.tmp` file beside the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_UMASK)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically, as `write_bytes_atomic`."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null (inf PSNR of a perfect fit becomes null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value


def write_json_atomic(path: str | os.PathLike, payload: Any) -> Path:
    return write_text_atomic(path, json.dumps(_finite_or_none(payload), indent=2) + "\n")


@dataclass
class RunRecord:
    """Everything metrics.json holds, built up while a run goes."""

    model: str | None = None
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
    loss_curve: list[tuple[int, float]] = field(default_factory=list)

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

    def as_json(self) -> dict:
        payload = asdict(self)
        payload.pop("loss_curve")
        payload["final"] = self.evals[-1] if self.evals else None
        payload["schema_version"] = SCHEMA_VERSION
        return payload

    def write(self, out_dir: str | os.PathLike) -> Path:
        out_dir = Path(out_dir)
        if self.loss_curve:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(["step", "loss"])
            writer.writerows(self.loss_curve)
            write_text_atomic(out_dir / "loss_curve.csv", buffer.getvalue())
        return write_json_atomic(out_dir / "metrics.json", self.as_json())

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            if key == "loss_curve":
                value = [tuple(point) for point in value]
            setattr(self, key, value)


def read_metrics(path: str | os.PathLike) -> dict:
    """Load a metrics.json (a run folder or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    return json.loads(path.read_text())
