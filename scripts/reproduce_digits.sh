#!/usr/bin/env bash
# The small reproduction that needs no download (a few minutes of CPU time): LeNet on
# scikit-learn's digits with ReLU, LReLU, Swish, PAU and RPAU x 2 seeds, then the runs
# table, the tables and the figures. The CPU trainer fixes the thread count
# (trainer.threads), so the numbers repeat exactly on any machine.
#
#   scripts/reproduce_digits.sh                      # 5 epochs, into results/
#   EPOCHS=10 OUT=results/digits10 scripts/reproduce_digits.sh launcher=joblib
#
# Runs go to RUNS (default runs/digits_demo-<epochs>ep), tables and figures to OUT.
# Extra arguments go to pau-train (e.g. seed=0,1,2). Re-running skips finished runs.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results}
# The experiment's own budget (5 epochs) unless EPOCHS is given: a changed key names a
# folder level of its own (runs/.../trainer.max_epochs=10/seed0).
EPOCHS_ARG=()
[ -n "${EPOCHS:-}" ] && EPOCHS_ARG=("trainer.max_epochs=$EPOCHS")
RUNS=${RUNS:-runs/digits_demo-${EPOCHS:-5}ep}
# The project's virtualenv when there is one, else the commands on PATH.
BIN=""
[ -x .venv/bin/pau-train ] && BIN=.venv/bin/

"${BIN}pau-train" -m experiment=digits_demo ${EPOCHS_ARG[@]+"${EPOCHS_ARG[@]}"} paths.runs_dir="$RUNS" \
  trainer.enable_progress_bar=false trainer.enable_model_summary=false "$@"
"${BIN}pau-collect" "$RUNS" --out "$OUT/runs.csv"
"${BIN}pau-tables" "$OUT/runs.csv" --out "$OUT/tables"
"${BIN}pau-figures" "$OUT/runs.csv" --out "$OUT/figures"
echo "tables: $OUT/tables/table_digits.md, $OUT/tables/table5.md; figures: $OUT/figures/"
