"""Dataset-level benchmarks: many signals x many architectures, resumable, into the paper's tables.

`python -m inr_bench.bench` runs `runner.main`; `batched` fits K signals at once;
`aggregate` turns the per-fit result files into tables and a plot.
"""
