#!/usr/bin/env bash
# Issue 13's search-throughput call: the same conv1d search (offline operator, cluster=local, 8 expansions in flight)
# with 1, 2, 3 and 4 judges sharing the GPU (eval.judges_per_device; checks overlap, timing holds the device alone),
# then the GPU adversarial suite under the gate.
#   OUT=/some/dir bash benchmarks/gpu_judges.sh     (repo root, CUDA machine, hydra/omegaconf importable)
# Each step has a wall-clock cap so the later ones still run; output lands in $OUT (<= 7 files).
set -u
exec > >(tee "$OUT/judges.log") 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton, sys; print('torch', torch.__version__, 'triton', triton.__version__, 'python', sys.version.split()[0])"
# the tree: a copied checkout may carry older git metadata than its files, so say how far the files are from it
date -u; echo "git HEAD $(git rev-parse --short HEAD 2>/dev/null), $(git status --porcelain 2>/dev/null | wc -l) paths differ from it"
WALL=${WALL:-75}
for K in ${JUDGES:-1 3 2 4}; do
  echo "== judges_per_device=$K"
  timeout $((WALL + 40)) python3 benchmarks/bench_throughput.py --wall "$WALL" --run-id "judges$K" -- \
    +experiment=conv1d platform=cuda cluster=local search.concurrency=8 eval.judges_per_device=$K \
    eval.precompile_workers=${PRECOMPILE:-3}
  [ -f "$OUT/bench_throughput.json" ] && mv "$OUT/bench_throughput.json" "$OUT/judges$K.json"
done
echo "== GPU adversarial suite"
timeout "${T_SUITE:-120}" python3 -m pytest -q -m gpu tests/gpu/eval 2>&1 | tail -15
date -u
