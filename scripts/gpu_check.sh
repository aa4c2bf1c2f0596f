#!/usr/bin/env bash
# One command that validates and measures the op on a GPU machine (`make gpu-check`):
#   1. the `gpu` tests with compiled Triton kernels: the op suites' cuda cases
#      (tests/test_op.py, tests/test_op_edges.py) and tests/test_op_gpu.py;
#   2. registers and spills of every kernel specialisation for sm_80 and sm_90;
#   3. scripts/bench_kernels.py --device cuda on 537 MB float32 / 268 MB bfloat16
#      tensors: forward and forward+backward, bandwidth against a device copy and
#      ratios against ReLU, torch.compile of the reference beside the op;
#   4. LeNet on synthetic data for 300 steps with trainer=gpu (and trainer=ddp when
#      there are two GPUs).
# Everything lands in results/gpu/ (CSV files, logs, summary.md). About 5-8 minutes
# on one GPU; each step has its own time limit, and a failed step is recorded in the
# summary while the others still run.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
BIN="$(dirname "$PY")"
OUT="${GPU_CHECK_OUT:-results/gpu}"
BENCH_SHAPE="${BENCH_SHAPE:-128,256,64,64}"  # 2^27 elements: 537 MB in float32, 268 MB in bfloat16
mkdir -p "$OUT"
export TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
STATUS="$OUT/steps.csv"
echo "step,exit_code,seconds" > "$STATUS"

step() {  # step NAME LIMIT_SECONDS COMMAND...: run, log to $OUT/NAME.log, record the exit code
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    echo "== $name"
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local code=$?
    echo "$name,$code,$((SECONDS - start))" >> "$STATUS"
    tail -n 5 "$OUT/$name.log"
    return 0
}

"$PY" - > "$OUT/device.txt" 2>&1 <<'EOF'
import torch, triton
print("torch", torch.__version__, "triton", triton.__version__, "cuda", torch.version.cuda)
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"cuda:{i} {p.name} sm_{p.major}{p.minor} {p.multi_processor_count} SMs {p.total_memory / 2**30:.0f} GiB")
EOF
cat "$OUT/device.txt"
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())")
if [ "${GPUS:-0}" -lt 1 ]; then
    echo "no CUDA device visible: nothing to check" | tee "$OUT/summary.md"
    exit 1
fi

step gpu_tests 300 "$PY" -m pytest -q -m gpu tests/ -p no:cacheprovider --junitxml="$OUT/gpu_tests.xml"
step triton_registers 180 sh -c "\"$PY\" -m pau.kernels.triton_aot --arch 80 90 --noise 0 1 --dtype fp32 bf16 > \"$OUT/triton_registers.csv\""
step bench 240 "$PY" scripts/bench_kernels.py --device cuda --shapes "$BENCH_SHAPE" --repeat 20 --baselines \
    --csv "$OUT/bench.csv"
TRAIN=(data=synthetic model=lenet activation=pau data.num_train=4800 "paths.runs_dir=$OUT/runs" seed=0)
step train_gpu 180 "$BIN/pau-train" "${TRAIN[@]}" trainer=gpu
if [ "$GPUS" -ge 2 ]; then
    step train_ddp 180 "$BIN/pau-train" "${TRAIN[@]}" trainer=ddp "paths.run_name=ddp"
fi

"$PY" scripts/gpu_summary.py "$OUT"
