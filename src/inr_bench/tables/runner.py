"""The paper's tables over a dataset: every selected architecture fitted to each of N signals, resumable.

    python -m inr_bench.tables experiment=paper_table1 table.models=[spder,siren] \
        table.num_signals=8 table.out_dir=table_results/table1

Config: `conf/tables.yaml` (the groups of `conf/config.yaml` plus a `table:` node). Each fit's
configuration is the run's overrides with `model=<name>` and the signal's own overrides
(`data.index=i`, or those listed in `table.signals`), composed as `python -m inr_bench.train`
would compose them: `python -m inr_bench.train <overrides> model=<name> data.index=<i>` fits the
same network to the same signal from the same initialisation (`seed`).

Results: one file per (architecture, signal), `out_dir/results/<model>/<signal_id>.json`, in
the metrics.json format plus the loss curve, "signal" and "table" entries (inr_bench/record.py),
written atomically
the moment that fit ends. A re-run skips every fit that has a file (status "ok" or "failed";
failed fits are retried only with `table.retry_failed=true`: a NaN is a property of the
configuration and would recur, while a crash worth retrying is rare and visible in the table).
A file whose configuration differs from the present one stops the run with an error instead of
silently mixing two configurations in one table.

Batches: signals are cut into fixed groups of K = `table.batch_size` consecutive signals, and a
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
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from inr_bench.config import CONFIG_MODULE, compose_config, group_options
from inr_bench.config.checks import check_config
from inr_bench.errors import InrBenchError
from inr_bench.fitting.batched import fit_batched
from inr_bench.nn.build import build_network, build_optimizer, build_scheduler, instantiate_node
from inr_bench.nn.stacked_mlp import batchable
from inr_bench.record import RunRecord, fingerprint, run_settings
from inr_bench.tables.aggregate import aggregate

log = logging.getLogger("inr_bench.tables")

# Optimisers that act on each number separately: one of them over stacked parameters gives
# every network its own update (batched.py). Others (L-BFGS, ...) fit one signal at a time.
ELEMENTWISE_OPTIMIZERS = {"torch.optim.Adam", "torch.optim.AdamW", "torch.optim.SGD"}


@dataclass(frozen=True)
class Signal:
    """One signal of the benchmark: a file-name-safe id and the overrides that select it."""

    id: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Column:
    """One column of a table: a model config, with overrides of its own for a variant (SPDER with
    another damping, a model at another w0), and the heading that replaces the model's label."""

    id: str
    model: str
    overrides: tuple[str, ...] = ()
    label: str | None = None


def column_list(entries) -> list[Column]:
    """table.models: model names, or {id, model, overrides, label} for a variant of a model."""
    columns = []
    for entry in entries:
        if isinstance(entry, str):
            columns.append(Column(entry, entry))
            continue
        try:
            columns.append(
                Column(
                    str(entry["id"]),
                    str(entry["model"]),
                    tuple(str(o) for o in entry.get("overrides") or ()),
                    entry.get("label"),
                )
            )
        except (KeyError, TypeError, AttributeError):
            raise InrBenchError(
                f"table.models: {entry!r} is neither a model name nor {{id: NAME, model: MODEL, "
                f"overrides: [...], label: TEXT}} (e.g. {{id: spder_arctan, model: spder, overrides: "
                f"[delta=arctan], label: SPDER (arctan)}})."
            ) from None
    return columns


def chosen_columns(columns: list[Column], keep) -> dict[str, Column]:
    """The columns by id, only those named in table.columns when it is set (in its order)."""
    by_id = {column.id: column for column in columns}
    if keep is None:
        return by_id
    unknown = [str(i) for i in keep if str(i) not in by_id]
    if unknown:
        raise InrBenchError(
            f"table.columns names {unknown}, which are not ids of table.models; the ids are {list(by_id)}."
        )
    return {str(i): by_id[str(i)] for i in keep}


# ----------------------------------------------------------------------------- configuration
def signal_list(cfg: DictConfig) -> list[Signal]:
    """table.signals (a list of {id, overrides}) if given, else data.index = first_index + i."""
    table = cfg.table
    if table.get("signals"):
        signals = [
            Signal(str(item["id"]), tuple(str(o) for o in item["overrides"])) for item in table.signals
        ]
        limit = table.get("num_signals")
        return signals[: int(limit)] if limit is not None else signals
    if "index" not in cfg.data:
        raise InrBenchError(
            f"data={cfg.data.name} has no data.index to enumerate signals by. Choose a dataset "
            f"(data=div2k, or an experiment such as experiment=paper_table1), or list the signals in "
            f"table.signals (each {{id: NAME, overrides: [data=..., ...]}}), as conf/experiment/paper_video_psnr.yaml does."
        )
    count = table.get("num_signals")
    if count is None or int(count) < 1:
        raise InrBenchError(f"table.num_signals must be a positive number of signals, got {count!r}.")
    first = int(table.get("first_index", 0))
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
    """The run's overrides minus those the runner sets per fit (model, signal, hydra, paths);
    a user's config folder (`hydra.searchpath`) is kept."""
    dropped = ("model", "table", "hydra", "paths.output_dir")
    kept = []
    for override in overrides:
        key = _override_key(override)
        if key == "hydra.searchpath":
            kept.append(override)
            continue
        if key in dropped or key.split(".")[0] in ("table", "hydra") or key == "data.index":
            continue
        kept.append(override)
    return kept


def search_path(overrides: list[str]) -> list[str]:
    return [o for o in overrides if _override_key(o) == "hydra.searchpath"]


def compose_fit_config(overrides: list[str], model: str, signal: Signal, out_dir: Path) -> DictConfig:
    """The configuration `python -m inr_bench.train` would compose for this fit, and the
    choice of every config group (`data` decides the command line that reproduces it)."""
    full = [*overrides, f"model={model}", *signal.overrides, f"paths.output_dir={out_dir}"]
    try:
        cfg = compose_config(full, config_name="tables", return_hydra_config=True)
    except Exception as error:  # hydra's MissingConfigException, override parse errors, ...
        models = group_options("model", search_path(overrides))
        raise InrBenchError(
            f"Cannot compose the configuration of model={model} for signal {signal.id} "
            f"({type(error).__name__}: {error}). Models available: {', '.join(models)}."
        ) from error
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.choices_ = {
            key: str(value)
            for key, value in choices.items()
            if "/" not in key and not key.startswith("hydra")
        }
    return cfg


# ----------------------------------------------------------------------------- result files
def result_path(out_dir: Path, model: str, signal: Signal) -> Path:
    return Path(out_dir) / "results" / model / f"{signal.id}.json"


def read_result(path: Path) -> dict | None:
    """A result file's record, or None when there is none (or it cannot be parsed)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


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
class TableRunner:
    def __init__(self, cfg: DictConfig, overrides: list[str]) -> None:
        self.cfg = cfg
        self.table = cfg.table
        self.overrides = base_overrides(list(overrides))
        self.out_dir = Path(str(self.table.out_dir)).expanduser()
        self.columns = chosen_columns(column_list(self.table.models), self.table.get("columns"))
        self.models = list(self.columns)
        if not self.models:
            raise InrBenchError(
                "table.models is empty: name at least one architecture (table.models=[spder,siren])."
            )
        self.signals = signal_list(cfg)
        ids = [s.id for s in self.signals]
        if len(set(ids)) != len(ids):
            raise InrBenchError(
                f"table.signals has duplicate ids: {sorted(i for i in ids if ids.count(i) > 1)}"
            )
        self.k = max(1, int(self.table.batch_size))
        self.device = self._device(str(self.table.get("device", "auto")))
        self.counts = {"fitted": 0, "skipped": 0, "failed": 0}
        self._composed: dict[str, DictConfig] = {}
        available = group_options("model", search_path(self.overrides))
        unknown = sorted({c.model for c in self.columns.values()} - set(available))
        if unknown:
            raise InrBenchError(
                f"table.models names architectures without a config file: {', '.join(unknown)}. "
                f"Available (model/*.yaml): {', '.join(available)}."
            )

    @staticmethod
    def _device(name: str) -> torch.device:
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(name)

    def fit_config(self, model: str, signal: Signal) -> DictConfig:
        """The config of column `model`'s fit of `signal`."""
        run_dir = self.out_dir / "runs" / model / signal.id
        column = self.columns[model]
        overrides = [*self.overrides, *column.overrides]
        index = _index_only(signal)
        if index is None:
            cfg = compose_fit_config(overrides, column.model, signal, run_dir)
        else:  # composing costs ~0.5 s: once per column, then only data.index differs
            if model not in self._composed:
                self._composed[model] = compose_fit_config(overrides, column.model, signal, run_dir)
            cfg = copy.deepcopy(self._composed[model])
            with open_dict(cfg):
                cfg.data.index = index
                cfg.paths.output_dir = str(run_dir)
        with open_dict(cfg):
            cfg.callbacks = {}  # no progress bar, no checkpoints: a fit is re-run, not resumed
            cfg.logger = {}
            cfg.save_outputs = bool(self.table.get("save_outputs", False))
            cfg.trainer.enable_progress_bar = False
            cfg.trainer.enable_checkpointing = False
        return cfg

    def command(self, model: str, signal: Signal, cfg: DictConfig) -> str:
        """The command line that reproduces this one fit on its own (the tables' default dataset
        may differ from train's, so the data choice is always spelled out)."""
        data = [] if any(o.startswith("data=") for o in signal.overrides) else [f"data={cfg.choices_.data}"]
        rest = [o for o in self.overrides if _override_key(o) != "data"]
        column = self.columns[model]
        return " ".join(
            [
                "python -m inr_bench.train",
                *data,
                *rest,
                f"model={column.model}",
                *column.overrides,
                *signal.overrides,
            ]
        )

    def is_done(self, model: str, signal: Signal, cfg: DictConfig | None = None) -> bool:
        record = read_result(result_path(self.out_dir, model, signal))
        if record is None or record.get("status") not in ("ok", "failed"):
            return False
        if record["status"] == "failed" and self.table.get("retry_failed", False):
            return False
        if cfg is not None:
            self.check_fingerprint(record, cfg, model, signal)
        return True

    def check_fingerprint(self, record: dict, cfg: DictConfig, model: str, signal: Signal) -> None:
        found = (record.get("info") or {}).get("fingerprint")
        expected = fingerprint(run_settings(cfg))
        if found is not None and found != expected:
            raise InrBenchError(
                f"{result_path(self.out_dir, model, signal)} holds a result of another configuration "
                f"(fingerprint {found}, this run's {expected}: the model, data, steps, seed, evaluation or "
                f"fused-kernel setting differ). Use another table.out_dir, or delete "
                f"{self.out_dir / 'results' / model} to re-run that architecture."
            )

    # ---- writing
    def write_result(
        self, model: str, signal: Signal, cfg: DictConfig, record: RunRecord, mode: str, seconds: float
    ) -> None:
        path = result_path(self.out_dir, model, signal)
        if self.is_done(model, signal):
            return  # a finished fit of this group, re-fitted only to keep its companions identical
        column = self.columns[model]
        record.model = column.model  # model/<model>.yaml; the column is the results folder's name
        record.label = column.label or record.label
        record.info["column"] = column.id
        record.info.setdefault("fingerprint", fingerprint(run_settings(cfg)))
        record.write_table_result(
            path,
            signal={
                "id": signal.id,
                "overrides": list(signal.overrides),
                "source": record.info.get("source"),
            },
            table={
                # what decides the result (inr_bench/record.py run_settings), for tools that
                # compare fits across tables (tables/superres_ablation.py)
                "settings": run_settings(cfg),
                "mode": mode,
                "batch_size": self.k if mode == "batched" else 1,
                "fit_seconds": seconds,
                "device": str(self.device) if mode == "batched" else str(cfg.trainer.get("accelerator")),
                "command": self.command(model, signal, cfg),
            },
        )
        self.counts["fitted"] += 1
        if record.status != "ok":
            self.counts["failed"] += 1
        final = record.as_json()["final"] or {}
        log.info(
            "%s %s: %s%s (%.1f s)",
            model,
            signal.id,
            record.status,
            f", psnr {final.get('psnr'):.2f} dB at step {final.get('step')}"
            + (" (restored best)" if final.get("restored_best") else "")
            if final.get("psnr")
            else f" ({record.reason})"
            if record.status != "ok"
            else "",
            seconds,
        )

    def write_failure(
        self, model: str, signal: Signal, cfg: DictConfig, error: BaseException, mode: str
    ) -> None:
        record = RunRecord(model=cfg.model.name, label=cfg.model.get("label"), data=cfg.data.get("name"))
        record.info["table_order"] = cfg.model.get("table_order")
        record.fail(error)
        self.write_result(model, signal, cfg, record, mode, 0.0)

    # ---- fitting
    def run(self) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if not self.table.get("aggregate_only", False):
            for model in self.models:
                self.run_model(model)
            log.info(
                "fits: %d run now (%d failed), %d already done",
                self.counts["fitted"],
                self.counts["failed"],
                self.counts["skipped"],
            )
        return aggregate(
            self.out_dir,
            models=self.models,
            signal_ids=[s.id for s in self.signals],
            title=self.table.get("title"),
            paper=self.table.get("paper_table"),
        )

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
            return "table.batch_size is 1"
        if cfg.task.get("name") != "fit":
            return f"task={cfg.task.name} runs inside inr_bench.train"
        target = cfg.model.optimizer.get("_target_")
        if target not in ELEMENTWISE_OPTIMIZERS:
            return f"optimizer {target} is not elementwise"
        if str(cfg.trainer.get("precision", "32-true")) not in ("32-true", "32"):
            return f"trainer.precision={cfg.trainer.precision} (batched fits are float32)"
        if cfg.get("resume"):
            return "resume is set"
        return None

    def load(self, cfg: DictConfig):
        """(datamodule, net) of one fit, built in train()'s order from train()'s seed."""
        from inr_bench.train import configure_precision

        check_config(cfg)
        configure_precision(bool(cfg.tf32))
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule = instantiate_node(cfg.data, "data")
        datamodule.setup("fit")
        net = build_network(
            cfg.model,
            datamodule.coord_dim,
            datamodule.out_features,
            datamodule.signal_shape,
            datamodule.coord_scale,
        )
        return datamodule, net

    def fit_batched_group(self, model: str, members: list[Signal], configs: dict, loaded: dict) -> None:
        cfg0 = configs[members[0]]
        datamodules = [loaded[s][0] for s in members]
        nets = [loaded[s][1] for s in members]
        dm0 = datamodules[0]
        records = [
            RunRecord.for_run(configs[s], dm, sum(p.numel() for p in net.parameters()))
            for s, dm, net in zip(members, datamodules, nets, strict=True)
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
                lambda parameters: build_optimizer(cfg0.model, parameters),
                int(cfg0.trainer.max_steps),
                list(cfg0.eval_steps),
                records=records,
                rho_variant=str(cfg0.rho_variant),
                chunk_size=dm0.chunk_size,
                eval_chunk_size=cfg0.get("eval_chunk_size"),
                device=self.device,
                on_step=_progress(model, int(cfg0.trainer.max_steps)),
                on_end=self._save_outputs_hook(members, configs, datamodules),
                scheduler=lambda optimizer: build_scheduler(cfg0.model, optimizer),
                restore_best=bool(cfg0.restore_best),
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
        for signal, record in zip(members, result.records, strict=True):
            self.write_result(model, signal, configs[signal], record, "batched", per_fit)

    def _save_outputs_hook(self, members, configs, datamodules):
        if not self.table.get("save_outputs", False):
            return None

        def save(stacked_model, records) -> None:
            for k, (signal, dm) in enumerate(zip(members, datamodules, strict=True)):
                net = stacked_model.network(k).cpu()
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
            train_cfg.pop("choices_", None)
        error = None
        try:
            train(train_cfg)
        except Exception as caught:  # noqa: BLE001 - any failure of one fit is recorded, the rest go on
            error = caught
        seconds = time.perf_counter() - start
        record = RunRecord.read(run_dir)
        if error is not None:
            if record is None:
                self.write_failure(model, signal, cfg, error, "sequential")
                return
            if record.status != "failed":
                record.fail(error)
        self.write_result(model, signal, cfg, record, "sequential", seconds)


# ----------------------------------------------------------------------------- entry point
def run_tables(cfg: DictConfig, overrides: list[str]) -> Path:
    """Run (or resume) the table `cfg.table` describes; returns the path of table.md."""
    return TableRunner(cfg, overrides).run()


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="tables")
def main(cfg: DictConfig) -> None:
    # As Hydra hands them over: an interpolation in an override (data.path=${paths.data_root}/x)
    # arrives resolved, so result files and their commands name the actual path.
    overrides = list(HydraConfig.get().overrides.task)
    try:
        table = run_tables(cfg, overrides)
    except InrBenchError as error:
        print(f"\n[inr_bench.tables] error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(
            "\n[inr_bench.tables] interrupted: finished fits are saved; run the same command again to resume.",
            file=sys.stderr,
        )
        sys.exit(130)
    print(Path(table).read_text())
    print(f"[inr_bench.tables] table: {table} (and table.csv, psnr_vs_step.png beside it)")


if __name__ == "__main__":
    os.environ.setdefault("WANDB_MODE", "offline")
    main()
