#!/usr/bin/env bash
# The GPU measurements of issue 16 as one prepared script (device time is scarce): the end-to-end
# training and extraction rates with the project's code (bench/train_throughput.py; eager, then
# compiled as the workflow runs on CUDA), then the model step under each lever (bench/gpu_levers.py).
# Usage: OUT=folder bash bench/gpu_session.sh [python]
#   SETS="eager compiled levers" (default) picks the parts; LEVERS_TIMEOUT bounds the last.
#   SETS="tests" runs the CUDA tests (tests/test_training.py -k cuda) first.
#   SETS="pinned graphs": the batch-32 training loop compiled, profiled, with cuDNN autotuning and
#   with Adam's fused kernel, then the compiled steps under CUDA graphs (torch.compile mode reduce-overhead).
set -o pipefail
PY=${1:-python3}
OUT=${OUT:-bench-out}
SETS=${SETS:-eager compiled levers}
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())" | tee -a "$OUT/gpu.txt"
THREADS=$(nproc)
e2e() {
    echo "== train_throughput $*" | tee -a "$OUT/e2e.txt"
    timeout 200 $PY bench/train_throughput.py --device cuda --clips 4096 --threads "$THREADS" "$@" 2>&1 | tee -a "$OUT/e2e.txt"
}
if [[ $SETS == *eager* ]]; then
    e2e --batch-size 32 --extract-batch-size 64
    e2e --batch-size 32 --extract-batch-size 256 --cudnn-benchmark
    e2e --batch-size 128 --extract-batch-size 1024 --cudnn-benchmark
fi
if [[ $SETS == *compiled* ]]; then
    e2e --batch-size 32 --extract-batch-size 64 --compile
    e2e --batch-size 128 --extract-batch-size 256 --compile
fi
if [[ $SETS == *tests* ]]; then  # the CUDA tests, skipped elsewhere
    timeout 300 $PY -m pytest -q -rs -p no:cacheprovider tests/test_training.py -k cuda 2>&1 | tee "$OUT/tests.txt"
fi
if [[ $SETS == *pinned* ]]; then
    e2e --batch-size 32 --extract-batch-size 64 --compile --profile
    e2e --batch-size 32 --extract-batch-size 64 --compile --cudnn-benchmark
    e2e --batch-size 32 --extract-batch-size 64 --compile --cudnn-benchmark --fused-adam
fi
if [[ $SETS == *graphs* ]]; then
    timeout "${LEVERS_TIMEOUT:-300}" $PY bench/gpu_levers.py --device cuda --threads "$THREADS" --compiled-only \
        --compile-modes reduce-overhead --out "$OUT/graphs.json" 2>&1 | tee "$OUT/graphs.txt"
fi
if [[ $SETS == *levers* ]]; then
    timeout "${LEVERS_TIMEOUT:-300}" $PY bench/gpu_levers.py --device cuda --threads "$THREADS" --out "$OUT/levers.json" 2>&1 \
        | tee "$OUT/levers.txt"
fi
