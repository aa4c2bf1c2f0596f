#!/usr/bin/env bash
# Table 2's MNIST experiments on the real MNIST at a CPU budget (about 1.5 hours on
# 2 cores), with the paper's schedule (Adam lr 0.002, batch 256, PAU from LReLU):
#
#   - LeNet x all 15 activations x seeds 0, 1, 2 for LENET_EPOCHS (10) epochs;
#   - VGG-8 x ReLU, LReLU, PAU, RPAU x seeds 0, 1 for VGG_EPOCHS (2) epochs of a
#     fixed VGG_SUBSET-image (20480) training subset, tested on all 10,000 images;
#
# then the figures (curves; learned activations, from the checkpoints), the run
# summaries (config, per-epoch metrics, final metrics; no checkpoints) copied to
# OUT/runs (default results/mnist/runs), the runs table OUT/runs.csv collected from
# those summaries, and the tables OUT/tables. Runbook: experiments/mnist_reproduction.md.
#
#   DATA_ROOT=../shared/data scripts/reproduce_mnist.sh
#
# DATA_ROOT holds MNIST/raw (torchvision's layout; default $PAU_DATA_ROOT, else data).
# Re-running skips finished runs and resumes interrupted ones.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${DATA_ROOT:-${PAU_DATA_ROOT:-data}}
LENET_EPOCHS=${LENET_EPOCHS:-10}
VGG_EPOCHS=${VGG_EPOCHS:-2}
VGG_SUBSET=${VGG_SUBSET:-20480}
OUT=${OUT:-results/mnist}
LENET_RUNS=runs/table2-${LENET_EPOCHS}ep
VGG_RUNS=runs/table2-vgg8-${VGG_EPOCHS}ep-${VGG_SUBSET}
BIN=""
[ -x .venv/bin/pau-train ] && BIN=.venv/bin/
QUIET=(trainer.enable_progress_bar=false trainer.enable_model_summary=false)

"${BIN}pau-train" -m experiment=table2 data=mnist model=lenet seed=0,1,2 trainer.max_epochs="$LENET_EPOCHS" \
  data.root="$DATA_ROOT" paths.runs_dir="$LENET_RUNS" "${QUIET[@]}"
"${BIN}pau-train" -m experiment=table2 data=mnist model=vgg8_mnist activation=relu,lrelu,pau,rpau seed=0,1 \
  trainer.max_epochs="$VGG_EPOCHS" data.train_subset="$VGG_SUBSET" data.root="$DATA_ROOT" \
  paths.runs_dir="$VGG_RUNS" "${QUIET[@]}"

# Figures from the run folders themselves: the learned activations need the checkpoints.
"${BIN}pau-collect" "$LENET_RUNS" "$VGG_RUNS" --out runs/mnist_reproduction.csv
"${BIN}pau-figures" runs/mnist_reproduction.csv --out "$OUT/figures" --data-root "$DATA_ROOT"

# The small summaries of every finished run (replacing any earlier ones), then the runs
# table and the tables made from them alone.
rm -rf "$OUT/runs"
for root in "$LENET_RUNS" "$VGG_RUNS"; do
  find "$root" -name final_metrics.json -printf '%h\n' | while read -r run; do
    dest="$OUT/runs/${run#"$root"/}"
    mkdir -p "$dest"
    cp "$run"/config.yaml "$run"/metrics.csv "$run"/final_metrics.json "$dest"/
  done
done
"${BIN}pau-collect" "$OUT/runs" --out "$OUT/runs.csv"
"${BIN}pau-tables" "$OUT/runs.csv" --out "$OUT/tables"
echo "tables: $OUT/tables/table2.md, $OUT/tables/table5.md; figures: $OUT/figures/"
