# inr_bench developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch==2.13.0 resolves to the CPU wheel on machines whose pip finds one locally (this team's
# machines); elsewhere it is the regular PyPI wheel (CUDA on Linux). Override: make install TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
export INR_BENCH_DATA ?= $(abspath ../shared/data)

.DEFAULT_GOAL := help
.PHONY: help install test test-slow test-all lint bench train check-install mutation gpu-check clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

install: ## Create .venv and install inr_bench with its dev extra (editable)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[dev]"

test: ## The fast test suite (about 5.5 min on 2 cores)
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: ## The slow tests only: real multiruns, DDP, killed and resumed runs, command-line runs, benchmarks (about 5.5 min)
	$(BIN)/python -m pytest -m slow -q

test-all: ## Every test: the fast suite and the slow tests (what CI runs)
	$(BIN)/python -m pytest -q

# Mutation testing of the scientific core (docs/testing.md); MUTATE=src/inr_bench/metrics/psnr.py
# narrows it to a path. Prints the score last.
MUTATE ?=
mutation: ## Mutation score (mutmut) of the scientific core; MUTATE=<path> narrows it
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python tests/mutation/run.py $(MUTATE)

lint: ## Lint and check formatting with ruff
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

bench: ## Throughput benchmark: eager vs default vs matmul floor (256x256)
	$(BIN)/python -m inr_bench.perf.throughput --size 256 --out table_results/throughput.json

train: ## The main job: SPDER (sqrt) on scikit-image's cameraman, 500 steps
	$(BIN)/python -m inr_bench.train

gpu-check: ## On a machine with a GPU: its tests, throughput, batched fitting, main job, a Table 1 slice (~5 min)
	$(BIN)/python -m inr_bench.perf.gpu_check --out gpu_check

# A user's install: the built wheel (not editable) in a fresh virtual environment, the main job run
# for 25 steps from an unrelated folder. The configs must come from inside the package.
CHECK_DIR ?= build/check-install
check-install: ## Install the wheel (non-editable) in a fresh venv and run 25 steps of the main job elsewhere
	rm -rf $(CHECK_DIR) && mkdir -p $(CHECK_DIR)/wheel $(CHECK_DIR)/elsewhere
	$(BIN)/python -m pip wheel --no-deps -q -w $(CHECK_DIR)/wheel .
	$(PYTHON) -m venv $(CHECK_DIR)/venv
	$(CHECK_DIR)/venv/bin/python -m pip install -q "$(TORCH_SPEC)"
	$(CHECK_DIR)/venv/bin/python -m pip install -q $(CHECK_DIR)/wheel/inr_bench-*.whl
	cd $(CHECK_DIR)/elsewhere && $(abspath $(CHECK_DIR))/venv/bin/python -m inr_bench.train \
		trainer.max_steps=25 eval_steps=[25] hydra.run.dir=run trainer.enable_progress_bar=false callbacks.progress_bar=null
	$(CHECK_DIR)/venv/bin/python -c "import json, sys; r = json.load(open('$(CHECK_DIR)/elsewhere/run/metrics.json')); \
		print('check-install:', r['status'], 'loss at step', r['final']['step'], r['final']['loss']); sys.exit(r['status'] != 'ok')"

clean: ## Remove outputs, caches and the virtual environment
	rm -rf outputs multirun wandb build .pytest_cache .ruff_cache $(VENV)
