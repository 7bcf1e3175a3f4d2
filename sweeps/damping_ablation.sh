#!/usr/bin/env bash
# The paper's damping ablation (A.12, Fig. 20) as one Hydra multirun: SPDER on the cameraman
# with all eight damping functions, 250 steps each. Extra arguments are passed on as overrides:
#   sweeps/damping_ablation.sh                                  # jobs one after another
#   sweeps/damping_ablation.sh launcher=joblib hydra.launcher.n_jobs=4
#   sweeps/damping_ablation.sh launcher=slurm hydra.launcher.partition=gpu
# Result: multirun/damping_ablation/<date>_<time>/summary.{md,csv,png} (summary.png is the figure).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}"
exec "$PYTHON" -m inr_bench.train -m experiment=damping_ablation "$@"
