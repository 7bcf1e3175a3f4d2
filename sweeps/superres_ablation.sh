#!/usr/bin/env bash
# The super-resolution ablation of REPRODUCTION.md ("Beyond the paper: what SPDER's
# super-resolution needs at each base density") at the scale a 2-core CPU allows. Every line is a
# multirun of the resumable table runner over experiment=superres_ablation: run this again after
# an interruption and only the missing fits run. Then the table and the figure:
#   python -m inr_bench.tables.superres_ablation table_results/superres_ablation
# Usage: sweeps/superres_ablation.sh [first_32|first_64|first_128|first_256|hidden|fit_cost ...] (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
RUN=("$PY" -m inr_bench.tables -m experiment=superres_ablation)

first_32() {  # the first layer's w0 at a 32x32 base: 4 signals (2 DIV2K crops, 2 FFHQ faces),
    # hidden layers at 30 (SIREN w/ PE, the fifth column of the preset, left out for time)
    "${RUN[@]}" data.size=32 table.num_signals=4 'table.columns=[spder,spder_arctan,siren,finer]' \
        model.net.first_w0=2.5,5,10,20,40
}
first_64() {  # ... at a 64x64 base: the same 4 signals, SPDER and SIREN
    "${RUN[@]}" data.size=64 table.num_signals=4 'table.columns=[spder,siren]' model.net.first_w0=5,10,20,40
}
first_128() {  # ... at a 128x128 base: 2 signals (a DIV2K crop and an FFHQ face)
    "${RUN[@]}" data.size=128 table.num_signals=2 'table.columns=[spder,siren]' model.net.first_w0=10,20,40
}
first_256() {  # ... at a 256x256 base: 2 signals (only the 2x target is a real image there)
    "${RUN[@]}" data.size=256 table.num_signals=2 'table.columns=[spder,siren]' model.net.first_w0=15,30,60
}
hidden() {  # the hidden layers' w0 at a 32x32 base, the first layer's chosen by first_w0=auto
    "${RUN[@]}" data.size=32 table.num_signals=4 'table.columns=[spder,siren]' model.net.first_w0=auto \
        model.net.activation.w0=7.5,15,30,60
}
fit_cost() {  # what first_w0=auto costs in fitting (Table 1's steps 25/100/500), 2 crops at 64x64
    for first in null auto; do
        "$PY" -m inr_bench.tables experiment=paper_table1 data.size=64 'table.models=[spder,siren]' \
            table.num_signals=2 model.net.first_w0=$first \
            table.out_dir=table_results/superres_ablation/fit_cost_64px_first_$first
    done
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(first_32 first_64 hidden fit_cost first_128 first_256)
for step in "${steps[@]}"; do
    echo "== superres_ablation: $step"
    "$step"
done
