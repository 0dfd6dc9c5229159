#!/usr/bin/env bash
# Issue 14's level-1 table: `kernelevolve suite` over the shipped KernelBench level-1 files, every search starting
# from the captured Inductor seed (tests/assets/kernelbench/captured), offline operator, no LLM.
#   OUT=/some/dir bash benchmarks/gpu_suite_level1.sh          (from the repo root; PLATFORM=cpu for the interpreter)
# The suite is resumable (a problem with a result file is not searched again), and this script is bounded: past
# BUDGET_S seconds the suite's process group is stopped (the problem in flight is lost, finished ones are kept)
# and everything lands in $OUT: summary.md/.json, state.tgz (the suite's problems/ dir: unpack it with
# RESUME_TGZ=state.tgz in a second call to finish the rest), logs.tgz (each problem's launch log), env.txt, suite.log.
# PROBLEMS: the files in search order (default: the three level-1 problems no earlier call reached, then the rest).
# EXTRA_PROBLEMS: searched as a second suite (extra_summary.md/.json) only if the first finished with time left.
set -u
: "${OUT:?set OUT to the output directory}"
KB=tests/assets/kernelbench
PROBLEMS=${PROBLEMS:-"$KB/upstream_level1/23_Softmax.py $KB/upstream_level1/47_Sum_reduction_over_a_dimension.py
 $KB/upstream_level1/1_Square_matrix_multiplication_.py $KB/level1/1_matmul_rect.py $KB/level1/2_leaky_relu.py
 $KB/upstream_level1/19_ReLU.py"}
SUITE=${SUITE_DIR:-/tmp/kb_level1}
BUDGET_S=${BUDGET_S:-380}
mkdir -p "$OUT" "$SUITE"
OUT=$(cd "$OUT" && pwd)
[ -n "${RESUME_TGZ:-}" ] && tar xzf "$RESUME_TGZ" -C "$SUITE"
start=$(date +%s)
{
  date -u
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  python3 -c "import torch, triton, sys; print('torch', torch.__version__, 'triton', triton.__version__, 'python', sys.version.split()[0])"
  echo "PLATFORM=${PLATFORM:-cuda} STEPS=${STEPS:-3} WALL_S=${WALL_S:-20} BUDGET_S=$BUDGET_S"
} > "$OUT/env.txt" 2>&1

suite() {  # suite DIR SECONDS FILES...: one bounded suite run; timeout signals the whole process group it starts
  local dir=$1 seconds=$2
  shift 2
  timeout --kill-after=10 "$seconds" python3 -m kernelevolve.cli suite --out "$dir" --steps "${STEPS:-3}" \
    --wall-s "${WALL_S:-20}" "$@" platform="${PLATFORM:-cuda}" cluster=local llm=offline \
    operator.capture_path=$KB/captured >> "$OUT/suite.log" 2>&1
  local rc=$?
  echo "suite $dir exit $rc at $(( $(date +%s) - start )) s (124: stopped at its budget; 1: a problem has no correct kernel)" \
    >> "$OUT/env.txt"
  return $rc
}

# shellcheck disable=SC2086  # PROBLEMS is a list of paths
suite "$SUITE" "$BUDGET_S" $PROBLEMS
rc=$?
left=$(( BUDGET_S - ($(date +%s) - start) ))
if [ -n "${EXTRA_PROBLEMS:-}" ] && [ "$rc" -ne 124 ] && [ "$left" -gt 60 ]; then
  # shellcheck disable=SC2086
  suite "$SUITE-extra" "$left" $EXTRA_PROBLEMS
  cp "$SUITE-extra/summary.md" "$OUT/extra_summary.md" 2>/dev/null
  cp "$SUITE-extra/summary.json" "$OUT/extra_summary.json" 2>/dev/null
fi
cp "$SUITE/summary.md" "$SUITE/summary.json" "$OUT/" 2>/dev/null
tar czf "$OUT/state.tgz" --exclude='*.log' -C "$SUITE" problems
(cd "$SUITE/.." && tar czf "$OUT/logs.tgz" "$(basename "$SUITE")"/problems/*.log \
  $(ls -d "$(basename "$SUITE")"-extra/problems 2>/dev/null) 2>/dev/null)
ls "$SUITE/problems" >> "$OUT/env.txt"
