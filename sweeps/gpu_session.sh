#!/usr/bin/env bash
# Everything this project runs on a lent GPU in one call, most important first, each phase bounded
# by its own time limit, its results copied to $OUT (default ./gpu_session) as soon as it ends:
#   1. make gpu-check (inr_bench.perf.gpu_check): GPU tests, throughput, batched fitting, the main
#      job, a Table 1 slice;
#   2. the training-recipe study (experiment=recipes) on the main job, 3 seeds (its 64x64 half and
#      Table 4 on the soundscapes fit a CPU: sweeps/reproduce_cpu.sh);
#   3. Table 2 on the soundscape recordings: SPDER and SIREN on all four, the ReLU family on one.
# Usage: sweeps/gpu_session.sh [check|recipes|audio ...]   (default: all three)
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUT="${OUT:-gpu_session}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 WANDB_MODE=offline
RESULTS=gpu_session_results

phase() {  # phase NAME SECONDS COMMAND...: run with a limit, say how it ended
    local name=$1 limit=$2; shift 2
    local start=$SECONDS
    echo "=== $name (limit ${limit}s): $*"
    timeout --signal=INT --kill-after=15 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local code=$?
    echo "=== $name: exit $code after $((SECONDS - start))s"
    tail -n 4 "$OUT/$name.log"
}

check() {
    phase gpu_check 350 "$PY" -m inr_bench.perf.gpu_check --out "$RESULTS/gpu_check"
    cp "$RESULTS/gpu_check/gpu_check.md" "$RESULTS/gpu_check/gpu_check.json" "$OUT/" 2>/dev/null
}
recipes() {
    phase recipes_main_job 100 "$PY" -m inr_bench.tables experiment=recipes table.out_dir="$RESULTS/recipes_main_job"
}
audio() {
    phase table2_soundscapes 70 "$PY" -m inr_bench.tables experiment=table2_soundscapes \
        'table.models=[siren,spder]' table.out_dir="$RESULTS/table2_soundscapes"
    phase table2_soundscapes_relu 40 "$PY" -m inr_bench.tables experiment=table2_soundscapes \
        'table.models=[relu,relu_ffn,relu_pe]' table.num_signals=1 table.out_dir="$RESULTS/table2_soundscapes"
    # the sounds of one clip are kept for its figure; the other fits' WAVs would only fill the archive
    find "$RESULTS/table2_soundscapes/runs" -name '*.wav' ! -path '*/spder/*0000/*' ! -path '*/siren/*0000/*' -delete 2>/dev/null
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(check recipes audio)
for step in "${steps[@]}"; do
    "$step"
    # what has finished so far comes back even if a later phase is cut off
    tar --exclude='*.ckpt' -czf "$OUT/results.tar.gz" "$RESULTS" 2>/dev/null
done
ls -la "$OUT"
