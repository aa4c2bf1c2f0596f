#!/usr/bin/env bash
# The small reproduction that needs no download (about 5 minutes of CPU time):
# LeNet on scikit-learn's digits with ReLU, LReLU, Swish, PAU and RPAU x 2 seeds,
# then the runs table, the tables and the figures.
#
#   scripts/reproduce_digits.sh                      # 5 epochs, into results/
#   EPOCHS=10 OUT=results/digits10 scripts/reproduce_digits.sh launcher=joblib
#
# Runs go to RUNS (default runs/digits_demo-<EPOCHS>ep), tables and figures to OUT.
# Extra arguments go to pau-train (e.g. seed=0,1,2). Re-running skips finished runs.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-5}
OUT=${OUT:-results}
RUNS=${RUNS:-runs/digits_demo-${EPOCHS}ep}
# The project's virtualenv when there is one, else the commands on PATH.
BIN=""
[ -x .venv/bin/pau-train ] && BIN=.venv/bin/

"${BIN}pau-train" -m experiment=digits_demo trainer.max_epochs="$EPOCHS" paths.runs_dir="$RUNS" \
  trainer.enable_progress_bar=false trainer.enable_model_summary=false "$@"
"${BIN}pau-collect" "$RUNS" --out "$OUT/runs.csv"
"${BIN}pau-tables" "$OUT/runs.csv" --out "$OUT/tables"
"${BIN}pau-figures" "$OUT/runs.csv" --out "$OUT/figures"
echo "tables: $OUT/tables/table_digits.md, $OUT/tables/table5.md; figures: $OUT/figures/"
