"""inr_bench: fit, compare and sweep implicit neural representations (SPDER and baselines)."""

__version__ = "0.1.0"
