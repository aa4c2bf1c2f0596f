#!/usr/bin/env bash
# The evidence behind experiment=table2's setting for VGG-8 (conf/setup/vgg8_sgd.yaml):
# scripts/signal_scale.py on the real MNIST for ReLU and LReLU after the same 10,240
# training images (a fixed subset) under four settings, batch 256 throughout:
#
#   A.3.2's Adam (lr 0.002), PyTorch's default initialisation   (experiment=table2_adam)
#   A.3.2's Adam (lr 0.002), torchvision's VGG initialisation
#   A.3.2's SGD (lr 0.01, momentum 0.5), PyTorch's default initialisation
#   A.3.2's SGD (lr 0.01, momentum 0.5), torchvision's VGG init  (experiment=table2)
#
# and, fresh under torchvision's initialisation, ReLU against Swish and PReLU.
# Each prints the feature std after each block, the logit spread, dead and input-blind
# units per block, the test-batch accuracy and the first convolution's gradient, into
# OUT (default results/mnist/vgg8_settings.txt). About 15 minutes on one CPU thread.
#
#   DATA_ROOT=../shared/data scripts/vgg8_settings.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${DATA_ROOT:-${PAU_DATA_ROOT:-data}}
OUT=${OUT:-results/mnist/vgg8_settings.txt}
PY=python
[ -x .venv/bin/python ] && PY=.venv/bin/python
mkdir -p "$(dirname "$OUT")"
{
  for optim in adam sgd; do
    lr=0.002
    [ "$optim" = sgd ] && lr=0.01
    for init in pytorch kaiming; do
      echo "== $optim lr $lr, batch 256, model.weight_init=$init"
      "$PY" scripts/signal_scale.py data.train_subset=10240 model.weight_init=$init --data-root "$DATA_ROOT" \
        --steps 40 --optim $optim --lr $lr --batch-size 256 --activations relu lrelu 2>/dev/null
    done
  done
  # torchvision's initialisation suits a rectifier: the signal each unit passes at the start
  echo "== fresh, model.weight_init=kaiming"
  "$PY" scripts/signal_scale.py model.weight_init=kaiming --data-root "$DATA_ROOT" --activations relu swish prelu \
    2>/dev/null
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT"
