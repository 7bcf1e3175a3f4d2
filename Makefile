# inr_bench developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch==2.13.0 resolves to the CPU wheel on machines whose pip finds one locally (this team's
# machines); elsewhere it is the regular PyPI wheel (CUDA on Linux). Override: make install TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
export INR_BENCH_DATA ?= $(abspath ../shared/data)

.DEFAULT_GOAL := help
.PHONY: help install test test-all lint bench train clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

install: ## Create .venv and install inr_bench with its dev extra (editable)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[dev]"

test: ## Run the test suite (the fast tests; what CI runs)
	$(BIN)/python -m pytest -m "not slow" -q

test-all: ## Run every test, the slow ones too
	$(BIN)/python -m pytest -q

lint: ## Lint and check formatting with ruff
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

bench: ## Throughput benchmark: eager vs default vs matmul floor (256x256)
	$(BIN)/python -m inr_bench.perf.throughput --size 256 --out table_results/throughput.json

train: ## The main job: SPDER (sqrt) on scikit-image's cameraman, 500 steps
	$(BIN)/python -m inr_bench.train

clean: ## Remove outputs, caches and the virtual environment
	rm -rf outputs multirun wandb .pytest_cache .ruff_cache $(VENV)
