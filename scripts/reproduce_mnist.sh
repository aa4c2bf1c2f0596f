#!/usr/bin/env bash
# Table 2's MNIST column on the real MNIST at this machine's CPU budget (about 2 hours
# 30 minutes on 2 cores: two sweeps side by side, one thread each; the VGG-8 one is
# the longer), every budget held
# by an experiment config (conf/experiment/):
#
#   experiment=table2_cpu_lenet    LeNet x all 15 activations x seeds 0-2, 4 epochs
#                                  (Adam lr 0.002, batch 256: the paper's text)
#   experiment=table2_cpu          VGG-8 x ReLU, LReLU, Swish, PReLU, PAU, RPAU x seeds
#                                  0, 1, 3 epochs of a fixed 20,480-image subset (SGD lr
#                                  0.01, momentum 0.5, batch 256, torchvision's VGG
#                                  initialisation)
#   experiment=table2_authors_cpu  LeNet x all 15 x seeds 0-2, 4 epochs, under the
#                                  authors' script (batch 64, clipping 5, Adam lr 0.01,
#                                  +-30 degree rotation, the released PAU coefficients)
#   optim.act_lr x10 and /10 for PAU at the budgets above, LeNet seed 0, VGG-8 seeds
#                                  0, 1 (the sensitivity of the PAU learning rate)
#
# then, per result folder, the run summaries (config, per-epoch metrics, final metrics;
# no checkpoints) copied to OUT/<folder>/runs, the runs table collected from them, the
# tables (final and best epoch) made from it alone, and the figures (curves; learned
# activations, from the checkpoints in runs/). Runbook: experiments/mnist_reproduction.md.
#
#   DATA_ROOT=../shared/data scripts/reproduce_mnist.sh
#
# DATA_ROOT holds MNIST/raw (torchvision's layout; default $PAU_DATA_ROOT, else data).
# Re-running skips finished runs and resumes interrupted ones, so a second call only
# remakes the tables and figures.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${DATA_ROOT:-${PAU_DATA_ROOT:-data}}
OUT=${OUT:-results}
BIN=""
[ -x .venv/bin/pau-train ] && BIN=.venv/bin/
train() { "${BIN}pau-train" -m "$@" data.root="$DATA_ROOT"; }

# Two sweeps at a time (each run on one thread): the LeNet ones, and the VGG-8 ones.
(
  train experiment=table2_authors_cpu
  train experiment=table2_cpu_lenet activation=pau seed=0 optim.act_lr=0.0002,0.02 paths.runs_dir=runs/act_lr_cpu
  train experiment=table2_cpu_lenet
) &
lenet=$!
(
  train experiment=table2_cpu
  train experiment=table2_cpu activation=pau seed=0,1 optim.act_lr=0.001,0.1 paths.runs_dir=runs/act_lr_cpu
) &
vgg=$!
wait "$lenet"
wait "$vgg"

# copy_summaries ROOT DEST [RUN...]: the small files of every finished run below ROOT
# (or of the named runs) to DEST, at the same place relative to ROOT.
copy_summaries() {
  local root=$1 dest=$2
  shift 2
  local runs=("$@")
  [ ${#runs[@]} -gt 0 ] || mapfile -t runs < <(find "$root" -name final_metrics.json -printf '%h\n' | sort)
  for run in "${runs[@]}"; do
    mkdir -p "$dest/${run#"$root"/}"
    cp "$run"/config.yaml "$run"/metrics.csv "$run"/final_metrics.json "$dest/${run#"$root"/}"/
  done
}

# results/mnist: Table 2 as experiment=table2 trains it; results/mnist_authors: as the
# authors' script trains LeNet.
for pair in "runs/table2_cpu:mnist" "runs/table2_authors_cpu:mnist_authors"; do
  root=${pair%%:*} out=$OUT/${pair#*:}
  rm -rf "$out/runs" "$out/tables" "$out/figures"
  copy_summaries "$root" "$out/runs"
  "${BIN}pau-collect" "$out/runs" --out "$out/runs.csv"
  "${BIN}pau-tables" "$out/runs.csv" --out "$out/tables"
  "${BIN}pau-tables" "$out/runs.csv" --out "$out/tables" --metric best_epoch
  # the figures from the run folders themselves: the learned activations need the checkpoints
  "${BIN}pau-collect" "$root" --out "runs/${pair#*:}_figures.csv"
  "${BIN}pau-figures" "runs/${pair#*:}_figures.csv" --out "$out/figures" --data-root "$DATA_ROOT"
done

# results/mnist_act_lr: PAU at act_lr = lr / 10, lr (null: the network's) and lr x 10.
out=$OUT/mnist_act_lr
rm -rf "$out/runs" "$out/tables"
copy_summaries runs/act_lr_cpu "$out/runs"
copy_summaries runs/table2_cpu "$out/runs" runs/table2_cpu/mnist/lenet/pau/seed0 \
  runs/table2_cpu/mnist/vgg8_mnist/pau/seed0 runs/table2_cpu/mnist/vgg8_mnist/pau/seed1
"${BIN}pau-collect" "$out/runs" --out "$out/runs.csv"
"${BIN}pau-tables" "$out/runs.csv" --out "$out/tables" --by optim.act_lr
"${BIN}pau-tables" "$out/runs.csv" --out "$out/tables" --by optim.act_lr --metric best_epoch
echo "tables: $OUT/mnist/tables, $OUT/mnist_authors/tables, $OUT/mnist_act_lr/tables; figures: $OUT/mnist*/figures"
