"""`python -m inr_bench.tables [overrides]`: the resumable benchmark runner (see runner.py)."""

import os

from inr_bench.tables.runner import main

if __name__ == "__main__":
    os.environ.setdefault("WANDB_MODE", "offline")
    main()
