"""Dataset-level benchmark: every selected architecture fitted to each of N signals, resumable.

    python -m inr_bench.bench experiment=paper_table1 bench.models=[spder,siren] \
        bench.num_signals=8 bench.out_dir=bench_results/table1

Config: `conf/bench.yaml` (the groups of `conf/config.yaml` plus a `bench:` node). Each fit's
configuration is the run's overrides with `model=<name>` and the signal's own overrides
(`data.index=i`, or those listed in `bench.signals`), composed as `python -m inr_bench.train`
would compose them: `python -m inr_bench.train <overrides> model=<name> data.index=<i>` fits the
same network to the same signal from the same initialisation (`seed`).

Results: one file per (architecture, signal), `out_dir/results/<model>/<signal_id>.json`, in
the metrics.json format plus the loss curve, "signal" and "bench" entries, written atomically
the moment that fit ends. A re-run skips every fit that has a file (status "ok" or "failed";
failed fits are retried only with `bench.retry_failed=true`: a NaN is a property of the
configuration and would recur, while a crash worth retrying is rare and visible in the table).
A file whose configuration differs from the present one stops the run with an error instead of
silently mixing two configurations in one table.

Batches: signals are cut into fixed groups of K = `bench.batch_size` consecutive signals, and a
group whose members are not all done is fitted again as a whole (only the missing files are
written). So a signal is always fitted beside the same companions, and an interrupted run,
restarted, computes exactly what the uninterrupted run computes. Architectures that cannot be
stacked (trainable encodings such as the hash grid, non-elementwise optimisers, downstream
tasks, mixed precision) and K = 1 go through `inr_bench.train.train`, one fit at a time.

A fit that raises or whose loss becomes NaN is recorded as failed (with the reason) and the
others go on. At the end the results are aggregated (`aggregate.py`) into `out_dir/table.md`,
`out_dir/table.csv` and `out_dir/psnr_vs_step.png`.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from inr_bench.bench.aggregate import aggregate
from inr_bench.bench.batched import batchable, fit_batched
from inr_bench.config import CONFIG_DIR
from inr_bench.errors import InrBenchError
from inr_bench.results import SCHEMA_VERSION, RunRecord, write_json_atomic

log = logging.getLogger("inr_bench.bench")

# Optimisers that act on each number separately: one of them over stacked parameters gives
# every network its own update (batched.py). Others (L-BFGS, ...) fit one signal at a time.
ELEMENTWISE_OPTIMIZERS = {"torch.optim.Adam", "torch.optim.AdamW", "torch.optim.SGD"}
# Keys of a fit's config that decide its result: a result file written under other values is
# not the result of this configuration.
FINGERPRINT_KEYS = ("model", "data", "task", "seed", "eval_steps", "rho_variant", "tf32")
FINGERPRINT_TRAINER_KEYS = ("max_steps", "precision")


@dataclass(frozen=True)
class Signal:
    """One signal of the benchmark: a file-name-safe id and the overrides that select it."""

    id: str
    overrides: tuple[str, ...]


# ----------------------------------------------------------------------------- configuration
def signal_list(cfg: DictConfig) -> list[Signal]:
    """bench.signals (a list of {id, overrides}) if given, else data.index = first_index + i."""
    bench = cfg.bench
    if bench.get("signals"):
        signals = [
            Signal(str(item["id"]), tuple(str(o) for o in item["overrides"])) for item in bench.signals
        ]
        limit = bench.get("num_signals")
        return signals[: int(limit)] if limit is not None else signals
    if "index" not in cfg.data:
        raise InrBenchError(
            f"data={cfg.data.name} has no data.index to enumerate signals by. Choose a dataset "
            f"(data=div2k, or an experiment such as experiment=paper_table1), or list the signals in "
            f"bench.signals (each {{id: NAME, overrides: [data=..., ...]}}), as conf/experiment/paper_video_psnr.yaml does."
        )
    count = bench.get("num_signals")
    if count is None or int(count) < 1:
        raise InrBenchError(f"bench.num_signals must be a positive number of signals, got {count!r}.")
    first = int(bench.get("first_index", 0))
    return [
        Signal(f"{cfg.data.name}_{i:04d}", (f"data.index={i}",)) for i in range(first, first + int(count))
    ]


def _index_only(signal: Signal) -> int | None:
    """i when the signal is selected by `data.index=i` alone (signal_list's enumeration)."""
    if len(signal.overrides) == 1 and signal.overrides[0].startswith("data.index="):
        return int(signal.overrides[0].split("=", 1)[1])
    return None


def _override_key(override: str) -> str:
    return override.lstrip("~+").split("=", 1)[0]


def base_overrides(overrides: list[str]) -> list[str]:
    """The run's overrides minus those the runner sets per fit (model, signal, hydra, paths)."""
    dropped = ("model", "bench", "hydra", "paths.output_dir")
    kept = []
    for override in overrides:
        key = _override_key(override)
        if key in dropped or key.split(".")[0] in ("bench", "hydra") or key == "data.index":
            continue
        kept.append(override)
    return kept


def compose_fit_config(overrides: list[str], model: str, signal: Signal, out_dir: Path) -> DictConfig:
    """The configuration `python -m inr_bench.train` would compose for this fit, and the
    choice of every config group (`data` decides the command line that reproduces it)."""
    full = [*overrides, f"model={model}", *signal.overrides, f"paths.output_dir={out_dir}"]
    try:
        if GlobalHydra.instance().is_initialized():
            cfg = compose(config_name="bench", overrides=full, return_hydra_config=True)
        else:
            with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
                cfg = compose(config_name="bench", overrides=full, return_hydra_config=True)
    except Exception as error:  # hydra's MissingConfigException, override parse errors, ...
        models = sorted(p.stem for p in (CONFIG_DIR / "model").glob("*.yaml"))
        raise InrBenchError(
            f"Cannot compose the configuration of model={model} for signal {signal.id} "
            f"({type(error).__name__}: {error}). Models available: {', '.join(models)}."
        ) from error
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.bench_choices_ = {
            key: str(value)
            for key, value in choices.items()
            if "/" not in key and not key.startswith("hydra")
        }
    return cfg


def fingerprint(cfg: DictConfig) -> str:
    """A short hash of what decides a fit's result (unresolved, so paths may move)."""
    node = {
        key: OmegaConf.to_container(cfg[key], resolve=False)
        if OmegaConf.is_config(cfg.get(key))
        else cfg.get(key)
        for key in FINGERPRINT_KEYS
    }
    node["trainer"] = {key: cfg.trainer.get(key) for key in FINGERPRINT_TRAINER_KEYS}
    text = json.dumps(node, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- result files
def result_path(out_dir: Path, model: str, signal: Signal) -> Path:
    return Path(out_dir) / "results" / model / f"{signal.id}.json"


def read_result(path: Path) -> dict | None:
    """A result file's record, or None when there is none (or it cannot be parsed)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_loss_curve(run_dir: Path) -> list[list[float]]:
    path = run_dir / "loss_curve.csv"
    if not path.is_file():
        return []
    with path.open() as stream:
        rows = list(csv.reader(stream))[1:]
    return [[int(step), float(loss)] for step, loss in rows]


def _progress(model: str, max_steps: int, every_s: float = 60.0):
    """A logger of a batched fit's progress, at most once a minute (long fits stay visible)."""
    state = {"last": time.perf_counter()}

    def report(step: int, losses: torch.Tensor) -> None:
        now = time.perf_counter()
        if now - state["last"] >= every_s or step == max_steps:
            state["last"] = now
            finite = losses[torch.isfinite(losses)]
            median = f"{float(finite.median()):.3e}" if finite.numel() else "nan"
            log.info("%s: step %d/%d, median loss %s", model, step, max_steps, median)

    return report


# ----------------------------------------------------------------------------- the runner
class BenchRunner:
    def __init__(self, cfg: DictConfig, overrides: list[str]) -> None:
        self.cfg = cfg
        self.bench = cfg.bench
        self.overrides = base_overrides(list(overrides))
        self.out_dir = Path(str(self.bench.out_dir)).expanduser()
        self.models = [str(m) for m in self.bench.models]
        if not self.models:
            raise InrBenchError(
                "bench.models is empty: name at least one architecture (bench.models=[spder,siren])."
            )
        self.signals = signal_list(cfg)
        ids = [s.id for s in self.signals]
        if len(set(ids)) != len(ids):
            raise InrBenchError(
                f"bench.signals has duplicate ids: {sorted(i for i in ids if ids.count(i) > 1)}"
            )
        self.k = max(1, int(self.bench.batch_size))
        self.device = self._device(str(self.bench.get("device", "auto")))
        self.counts = {"fitted": 0, "skipped": 0, "failed": 0}
        self._composed: dict[str, DictConfig] = {}
        available = sorted(p.stem for p in (CONFIG_DIR / "model").glob("*.yaml"))
        unknown = [m for m in self.models if m not in available]
        if unknown:
            raise InrBenchError(
                f"bench.models names architectures without a config file: {', '.join(unknown)}. "
                f"Available (conf/model/): {', '.join(available)}."
            )

    @staticmethod
    def _device(name: str) -> torch.device:
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(name)

    def fit_config(self, model: str, signal: Signal) -> DictConfig:
        run_dir = self.out_dir / "runs" / model / signal.id
        index = _index_only(signal)
        if index is None:
            cfg = compose_fit_config(self.overrides, model, signal, run_dir)
        else:  # composing costs ~0.5 s: once per model, then only data.index differs
            if model not in self._composed:
                self._composed[model] = compose_fit_config(self.overrides, model, signal, run_dir)
            cfg = copy.deepcopy(self._composed[model])
            with open_dict(cfg):
                cfg.data.index = index
                cfg.paths.output_dir = str(run_dir)
        with open_dict(cfg):
            cfg.callbacks = {}  # no progress bar, no checkpoints: a fit is re-run, not resumed
            cfg.logger = {}
            cfg.save_outputs = bool(self.bench.get("save_outputs", False))
            cfg.trainer.enable_progress_bar = False
            cfg.trainer.enable_checkpointing = False
        return cfg

    def command(self, model: str, signal: Signal, cfg: DictConfig) -> str:
        """The command line that reproduces this one fit on its own (the bench config's default
        dataset differs from train's, so the data choice is always spelled out)."""
        data = (
            []
            if any(o.startswith("data=") for o in signal.overrides)
            else [f"data={cfg.bench_choices_.data}"]
        )
        rest = [o for o in self.overrides if _override_key(o) != "data"]
        return " ".join(["python -m inr_bench.train", *data, *rest, f"model={model}", *signal.overrides])

    def is_done(self, model: str, signal: Signal, cfg: DictConfig | None = None) -> bool:
        record = read_result(result_path(self.out_dir, model, signal))
        if record is None or record.get("status") not in ("ok", "failed"):
            return False
        if record["status"] == "failed" and self.bench.get("retry_failed", False):
            return False
        if cfg is not None:
            self.check_fingerprint(record, cfg, model, signal)
        return True

    def check_fingerprint(self, record: dict, cfg: DictConfig, model: str, signal: Signal) -> None:
        found = (record.get("bench") or {}).get("fingerprint")
        if found is not None and found != fingerprint(cfg):
            raise InrBenchError(
                f"{result_path(self.out_dir, model, signal)} holds a result of another configuration "
                f"(fingerprint {found}, this run's {fingerprint(cfg)}: the model, data, steps, seed or "
                f"evaluation differ). Use another bench.out_dir, or delete {self.out_dir / 'results' / model} "
                f"to re-run that architecture."
            )

    # ---- writing
    def write_result(
        self,
        model: str,
        signal: Signal,
        cfg: DictConfig,
        record: dict,
        mode: str,
        seconds: float,
        loss_curve: list,
    ) -> None:
        path = result_path(self.out_dir, model, signal)
        if self.is_done(model, signal):
            return  # a finished fit of this group, re-fitted only to keep its companions identical
        payload = dict(record)
        payload["model"] = model  # the bench.models choice (conf/model/<model>.yaml)
        payload["signal"] = {
            "id": signal.id,
            "overrides": list(signal.overrides),
            "source": (payload.get("info") or {}).get("source"),
        }
        payload["bench"] = {
            "mode": mode,
            "batch_size": self.k if mode == "batched" else 1,
            "fit_seconds": seconds,
            "fingerprint": fingerprint(cfg),
            "device": str(self.device) if mode == "batched" else str(cfg.trainer.get("accelerator")),
            "data_range": payload.get("bench_data_range", 2.0),
            "command": self.command(model, signal, cfg),
        }
        payload.pop("bench_data_range", None)
        payload["loss_curve"] = loss_curve
        payload.setdefault("schema_version", SCHEMA_VERSION)
        write_json_atomic(path, payload)
        status = payload.get("status")
        self.counts["fitted"] += 1
        if status != "ok":
            self.counts["failed"] += 1
        final = payload.get("final") or {}
        log.info(
            "%s %s: %s%s (%.1f s)",
            model,
            signal.id,
            status,
            f", psnr {final.get('psnr'):.2f} dB at step {final.get('step')}"
            if final.get("psnr")
            else f" ({payload.get('reason')})"
            if status != "ok"
            else "",
            seconds,
        )

    def write_failure(
        self, model: str, signal: Signal, cfg: DictConfig, error: BaseException, mode: str
    ) -> None:
        record = RunRecord(
            model=model, data=cfg.data.get("name"), status="failed", reason=f"{type(error).__name__}: {error}"
        ).as_json()
        self.write_result(model, signal, cfg, record, mode, 0.0, [])

    # ---- fitting
    def run(self) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if not self.bench.get("aggregate_only", False):
            for model in self.models:
                self.run_model(model)
            log.info(
                "fits: %d run now (%d failed), %d already done",
                self.counts["fitted"],
                self.counts["failed"],
                self.counts["skipped"],
            )
        table = aggregate(
            self.out_dir,
            models=self.models,
            signal_ids=[s.id for s in self.signals],
            title=self.bench.get("title"),
            paper=self.bench.get("paper_table"),
        )
        return table

    def run_model(self, model: str) -> None:
        groups = [self.signals[i : i + self.k] for i in range(0, len(self.signals), self.k)]
        for group in groups:
            configs = {s: self.fit_config(model, s) for s in group}
            pending = [s for s in group if not self.is_done(model, s, configs[s])]
            self.counts["skipped"] += len(group) - len(pending)
            if not pending:
                continue
            self.run_group(model, group, configs)

    def run_group(self, model: str, group: list[Signal], configs: dict) -> None:
        cfg0 = configs[group[0]]
        why_not = self.why_not_batched(cfg0)
        if why_not is None:
            loaded = {}
            for signal in group:
                try:
                    loaded[signal] = self.load(configs[signal])
                except Exception as error:  # noqa: BLE001 - an unreadable signal fails alone
                    if not self.is_done(model, signal):
                        self.write_failure(model, signal, configs[signal], error, "batched")
            nets = {s: item[1] for s, item in loaded.items()}
            unbatchable = [why for why in (batchable(net)[1] for net in nets.values()) if why]
            if not unbatchable:
                by_shape: dict[tuple, list[Signal]] = {}
                for signal, (datamodule, _) in loaded.items():
                    key = (
                        tuple(datamodule.signal_shape),
                        datamodule.out_features,
                        tuple(datamodule.coords.shape),
                    )
                    by_shape.setdefault(key, []).append(signal)
                for members in by_shape.values():
                    self.fit_batched_group(model, members, configs, loaded)
                return
            why_not = unbatchable[0]
        if len(group) > 1:
            log.info("%s: fitting one signal at a time (%s)", model, why_not)
        for signal in group:
            if not self.is_done(model, signal):
                self.fit_sequential(model, signal, configs[signal])

    def why_not_batched(self, cfg: DictConfig) -> str | None:
        """Why the runner cannot stack fits of this configuration, or None if it can."""
        if self.k < 2:
            return "bench.batch_size is 1"
        if cfg.task.get("_target_"):
            return f"task={cfg.task.name} runs inside inr_bench.train"
        target = cfg.model.optimizer.get("_target_")
        if target not in ELEMENTWISE_OPTIMIZERS:
            return f"optimizer {target} is not elementwise"
        if str(cfg.trainer.get("precision", "32-true")) not in ("32-true", "32", "32-true"):
            return f"trainer.precision={cfg.trainer.precision} (batched fits are float32)"
        if cfg.get("resume"):
            return "resume is set"
        return None

    def load(self, cfg: DictConfig):
        """(datamodule, net) of one fit, built in train()'s order from train()'s seed."""
        from inr_bench.train import configure_precision

        configure_precision(bool(cfg.tf32))
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule = instantiate(cfg.data)
        datamodule.setup("fit")
        net = instantiate(
            cfg.model.net, in_features=datamodule.coord_dim, out_features=datamodule.out_features
        )
        return datamodule, net

    def fit_batched_group(self, model: str, members: list[Signal], configs: dict, loaded: dict) -> None:
        from inr_bench.train import build_record, eval_schedule

        cfg0 = configs[members[0]]
        datamodules = [loaded[s][0] for s in members]
        nets = [loaded[s][1] for s in members]
        dm0 = datamodules[0]
        records = [
            build_record(configs[s], dm, net) for s, dm, net in zip(members, datamodules, nets, strict=True)
        ]
        coords = torch.stack([dm.coords for dm in datamodules])
        values = torch.stack([dm.values for dm in datamodules])
        ids = ", ".join(s.id for s in members)
        log.info(
            "%s: fitting %d signals batched (%s), %d steps", model, len(members), ids, cfg0.trainer.max_steps
        )
        try:
            result = fit_batched(
                nets,
                coords,
                values,
                tuple(dm0.signal_shape),
                float(dm0.data_range),
                instantiate(cfg0.model.optimizer),
                int(cfg0.trainer.max_steps),
                eval_schedule(cfg0.eval_steps, cfg0.trainer.max_steps),
                records=records,
                rho_variant=str(cfg0.rho_variant),
                chunk_size=dm0.chunk_size,
                eval_chunk_size=cfg0.get("eval_chunk_size"),
                device=self.device,
                on_step=_progress(model, int(cfg0.trainer.max_steps)),
                on_end=self._save_outputs_hook(members, configs, datamodules),
            )
        except Exception as error:  # noqa: BLE001 - e.g. out of memory: fall back to one at a time
            log.warning(
                "%s: batched fit of %s failed (%s: %s); fitting them one at a time",
                model,
                ids,
                type(error).__name__,
                error,
            )
            for signal in members:
                if not self.is_done(model, signal):
                    self.fit_sequential(model, signal, configs[signal])
            return
        per_fit = result.seconds / len(members)
        for signal, record, dm in zip(members, result.records, datamodules, strict=True):
            payload = record.as_json()
            payload["bench_data_range"] = float(dm.data_range)
            self.write_result(
                model,
                signal,
                configs[signal],
                payload,
                "batched",
                per_fit,
                [list(point) for point in record.loss_curve],
            )

    def _save_outputs_hook(self, members, configs, datamodules):
        if not self.bench.get("save_outputs", False):
            return None

        def save(batched_model, records) -> None:
            for k, (signal, dm) in enumerate(zip(members, datamodules, strict=True)):
                net = batched_model.network(k).cpu()
                with torch.no_grad():
                    pred = torch.cat([net(part) for part in torch.split(dm.coords, 65536)])
                out = Path(configs[signal].paths.output_dir)
                out.mkdir(parents=True, exist_ok=True)
                dm.save_outputs(pred, out, records[k].evals[-1] if records[k].evals else None)

        return save

    def fit_sequential(self, model: str, signal: Signal, cfg: DictConfig) -> None:
        from inr_bench.train import train

        run_dir = Path(cfg.paths.output_dir)
        for stale in ("metrics.json", "loss_curve.csv"):  # of an earlier, interrupted attempt
            (run_dir / stale).unlink(missing_ok=True)
        start = time.perf_counter()
        train_cfg = copy.deepcopy(cfg)
        with open_dict(train_cfg):
            train_cfg.pop("bench_choices_", None)
        try:
            record = train(train_cfg)
        except Exception as error:  # noqa: BLE001 - any failure of one fit is recorded, the rest go on
            record = read_result(run_dir / "metrics.json")
            if record is None or record.get("status") != "failed":
                record = RunRecord(model=model, data=cfg.data.get("name"), status="failed").as_json()
            record["status"] = "failed"
            record["reason"] = record.get("reason") or f"{type(error).__name__}: {error}"
        seconds = time.perf_counter() - start
        record["bench_data_range"] = 2.0
        self.write_result(model, signal, cfg, record, "sequential", seconds, _read_loss_curve(run_dir))


# ----------------------------------------------------------------------------- entry point
def run_bench(cfg: DictConfig, overrides: list[str]) -> Path:
    """Run (or resume) the benchmark `cfg.bench` describes; returns the path of table.md."""
    return BenchRunner(cfg, overrides).run()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="bench")
def main(cfg: DictConfig) -> None:
    # As Hydra hands them over: an interpolation in an override (data.path=${paths.data_root}/x)
    # arrives resolved, so result files and their commands name the actual path.
    overrides = list(HydraConfig.get().overrides.task)
    try:
        table = run_bench(cfg, overrides)
    except InrBenchError as error:
        print(f"\n[inr_bench.bench] error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(
            "\n[inr_bench.bench] interrupted: finished fits are saved; run the same command again to resume.",
            file=sys.stderr,
        )
        sys.exit(130)
    print(Path(table).read_text())
    print(f"[inr_bench.bench] table: {table} (and table.csv, psnr_vs_step.png beside it)")


if __name__ == "__main__":
    os.environ.setdefault("WANDB_MODE", "offline")
    main()
