"""The paper's tables over a dataset: many signals x many architectures, resumable.

`python -m inr_bench.tables` runs `runner.main`; `aggregate` turns the per-fit result files into
tables and a plot; `paper_tables` holds the published numbers printed beside ours.
"""
