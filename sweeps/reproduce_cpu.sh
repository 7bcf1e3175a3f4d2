#!/usr/bin/env bash
# The paper's tables at the scale a 2-core CPU allows (REPRODUCTION.md shows the results).
# Each command is resumable: run this again after an interruption and finished fits are skipped.
# Usage: sweeps/reproduce_cpu.sh [table1|table1_256|table2|table3|table3_256|table4|video ...]  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
OUT="${OUT:-table_results}"

table1() {  # Table 1, every architecture, all 16 DIV2K crops at 64x64
    "$PY" -m inr_bench.tables experiment=paper_table1 data.size=64 table.num_signals=16 \
        table.out_dir="$OUT/table1_64px"
}
table1_256() {  # Table 1 at the paper's size (256x256) for SPDER and SIREN, 4 DIV2K crops, one
    # fit at a time (a CPU gains nothing from batching; each result lands every few minutes)
    "$PY" -m inr_bench.tables experiment=paper_table1 'table.models=[spder,siren]' table.num_signals=4 \
        table.batch_size=1 table.out_dir="$OUT/table1_256px"
}
table2() {  # Table 2, the first second of both real clips (bach 44.1 kHz, arctic 16 kHz)
    "$PY" -m inr_bench.tables experiment=paper_table2 data=audio_file 'data.path=${paths.data_root}/audio' \
        table.num_signals=2 data.seconds=1 table.out_dir="$OUT/table2_audio_1s"
}
table3() {  # Table 3, super-resolution: 12 DIV2K crops from a 64 base, 4 FFHQ faces from a 32 base
    "$PY" -m inr_bench.tables experiment=paper_table3 data.size=64 table.out_dir="$OUT/table3_div2k_64px"
    "$PY" -m inr_bench.tables experiment=paper_table3 data=ffhq data.size=32 table.num_signals=4 \
        table.out_dir="$OUT/table3_ffhq_32px"
}
table3_256() {  # Table 3 from a 256x256 base, 6 DIV2K crops: only the 2x target (512) is a real
    # image; a 512 base, the paper's, would need the full-size DIV2K images for its targets
    "$PY" -m inr_bench.tables experiment=paper_table3 data.size=256 table.num_signals=6 \
        table.out_dir="$OUT/table3_div2k_256px"
}
table4() {  # Table 4, audio interpolation: the first 4 s of both clips, trained on every 8th sample
    "$PY" -m inr_bench.tables experiment=paper_table4 data=audio_file 'data.path=${paths.data_root}/audio' \
        table.num_signals=2 table.out_dir="$OUT/table4_audio"
}
video() {  # A.7 video PSNR: 16 frames of the bikes clip at 64x64, the image network, 450 steps
    "$PY" -m inr_bench.tables experiment=paper_video_psnr table.num_signals=1 data.num_frames=16 data.size=64 \
        model.net.width=256 model.net.hidden_layers=5 model.optimizer.lr=1e-4 table.out_dir="$OUT/video_64px"
}

for job in "${@:-table1 table3 table4 video table2 table3_256 table1_256}"; do
    for name in $job; do
        echo "=== $name ($(date -u +%H:%M:%S))"
        "$name"
    done
done
