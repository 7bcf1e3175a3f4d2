"""Benchmarks: `python -m inr_bench.benchmarks.throughput` (training-step time and peak memory)."""
