#!/usr/bin/env bash
# Issue 13's acceptance numbers in one device call (~500 s on an H100): every built-in task's first verdict (cold,
# and in a next run with the machine-wide compile cache warm) and warm verdicts, then the conv1d search with 1 and
# 2 judges per device.
#   OUT=/some/dir bash benchmarks/gpu_issue13.sh     (repo root, CUDA machine, hydra/omegaconf importable)
# TASKS, REPEATS, JUDGES, WALL, NEXT_RUN, T_TASKS and SEARCH_EXTRA (more launch overrides) override the defaults; every step has a wall-clock cap so the later ones still run.
set -u
: "${OUT:?OUT must name a directory}"
exec > >(tee "$OUT/issue13.log") 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton, sys; print('torch', torch.__version__, 'triton', triton.__version__, 'python', sys.version.split()[0])"
date -u; git rev-parse --short HEAD 2>/dev/null || true
echo "== every task: first verdict cold and in a next run, warm verdicts"
NEXT_RUN=${NEXT_RUN---next-run}  # set NEXT_RUN= to skip the second (warm machine cache) first verdict
# shellcheck disable=SC2086  # NEXT_RUN is one flag or nothing
timeout "${T_TASKS:-330}" python3 benchmarks/bench_eval.py --tasks "${TASKS:-all}" --repeats "${REPEATS:-3}" $NEXT_RUN
WALL=${WALL:-50}
for K in ${JUDGES:-1 2}; do
  echo "== conv1d search, judges_per_device=$K"
  timeout $((WALL + 40)) python3 benchmarks/bench_throughput.py --wall "$WALL" --run-id "i13k$K" -- \
    +experiment=conv1d platform=cuda cluster=local search.concurrency=8 eval.judges_per_device=$K ${SEARCH_EXTRA:-}
  [ -f "$OUT/bench_throughput.json" ] && mv "$OUT/bench_throughput.json" "$OUT/search_k$K.json"
done
date -u
