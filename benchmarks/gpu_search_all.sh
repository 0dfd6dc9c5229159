#!/usr/bin/env bash
# Issue 18: offline-operator searches on one GPU (cluster=local, fixed seeds, a wall-clock budget each), then every
# run's exported kernels re-measured independently by bench_ops.py against eager and torch.compile, and one
# summary table (benchmarks/search_summary.py).
#
#   OUT=/some/dir bash benchmarks/gpu_search_all.sh            (repo root, a CUDA machine; ~8.8 min with the defaults)
#   OUT=/tmp/o PLATFORM=cpu TASKS=conv1d WALLS="conv1d=15" TRITON_INTERPRET=1 bash benchmarks/gpu_search_all.sh (CPU)
#
# Defaults: conv1d first (the headline) with 200 s, then rmsnorm_bwd (from the one-launch seed), interformer_pffn
# (shared-X seed) and map_id with 80 s each; WALLS="task=s ..." overrides any. When what DEADLINE_S leaves cannot
# pay for all of them (each search costs its budget + ~15 s, step 1 ~65-75 s, steps 3-4 BENCH_RESERVE_S), every
# budget shrinks in proportion: with DEADLINE_S=525 the four tasks get ~155 s and ~60 s each, and
# TASKS="conv1d rmsnorm_bwd interformer_pffn" gets ~195 s and ~78 s each.
#
# Order of work, all in one call:
#  1. (cuda) torch.compile(max-autotune-no-cudagraphs) of every task's production shapes, one process per task in
#     parallel, into a shared Inductor cache (bench_ops.py --compile-only): max-autotune takes 15-70 s per task,
#     which run one after another would eat the searches' time. Nothing is timed while this runs.
#  2. the searches, one after another on the quiet GPU, judged against eager (BASELINE=eager, the default; 1b tells
#     the opt-in BASELINE=compile): a search's own
#     judge compiles its torch.compile baselines (static per shape, max-autotune) in the run's private cache when
#     its first worker starts, 15-70 s per task that these budgets do not have; the ranking of candidates does not
#     depend on which fixed baseline divides their times, and step 3 times torch.compile independently.
#  3. (cuda) bench_ops.py --run on every finished run: the export's kernel per shape, eager and torch.compile (from
#     the cache of step 1) timed by do_bench in one process; the dispatch rule's decision from those timings.
#  4. search_summary.py: per task the best fitness, the moves from the root to the best node, improvements,
#     per-shape judge times, verdicts, duplicates dropped, verdicts/min, and step 3.
# 3c. (cuda, rmsnorm_bwd searched) bench_ops.py on rmsnorm_bwd's seed.py and seed_one_launch.py, no torch.compile.
# $OUT gets: all.log, summary.md, summary.json, ops.json, rmsnorm_seeds.json, runs.tar.gz (reports, exports, stores,
# logs of each run).
# Every step has a time cap computed from DEADLINE_S (seconds from the start) so the last steps still run.
# Measured on the H100 (benchmarks/RESULTS.md, issue 18): step 1 took 64 s for these four tasks; a search's first
# verdict (its root) came 18-35 s after the run started and a launch costs ~10 s more outside search.max_wall_s.
set -u
: "${OUT:?set OUT to the folder for the results}"
PLATFORM=${PLATFORM:-cuda}
STORE=${STORE:-/tmp/i18runs_$(date +%s)}  # fresh: a run id that exists refuses to start
TAG=${TAG:-i18}
TASKS=${TASKS:-"conv1d rmsnorm_bwd interformer_pffn map_id"}
WALL_CONV=${WALL_CONV:-200}  # search.max_wall_s of the conv1d search (the issue's headline shape)
WALL_OTHER=${WALL_OTHER:-80} # search.max_wall_s of each other search
WALLS=${WALLS:-}  # "task=seconds ..." for any task, over WALL_CONV / WALL_OTHER
CONC=${CONC:-6}  # search.concurrency: concurrent expansions of one parent take different moves (their rank in the
# offline operator's ranked list), and a duplicate is asked again, never judged twice
REWRITE_PROB=${REWRITE_PROB:-0.1}  # operator.rewrite_prob: random structural rewrites; the ranked tunable moves
# (climb, combine, stages/warps neighbours) get the rest of these short budgets
T_PREWARM=${T_PREWARM:-75}
BASELINE=${BASELINE:-eager}  # eval.baseline of the searches' judge (eager or compile; see step 1b)
# EXTRA_RUNS="dir ..." adds finished runs (an earlier call's stores) to step 3's re-measurement; name their tasks in
# COMPILE_TASKS for a torch.compile column.
# Tasks whose exports are timed against torch.compile too (step 1 compiles them; the others get eager only).
COMPILE_TASKS=${COMPILE_TASKS:-$TASKS}
DEADLINE_S=${DEADLINE_S:-525}
BENCH_RESERVE_S=${BENCH_RESERVE_S:-60}  # kept for step 3 + 4 when the searches' budgets are cut
S=knowledge_base/samples
mkdir -p "$STORE" "$OUT"
exec > >(tee "$OUT/all.log") 2>&1
left() { echo $((DEADLINE_S - SECONDS)); }

# The structural seed each search starts from (the operator proposes the task's other seed*.py files as moves).
seed_for() {
  case "$1" in
    conv1d) echo "$S/conv1d/seed_wstat.py" ;;  # 0.111 ms at b2048_fp16 vs seed_tma 0.150 (RESULTS, 12th session)
    interformer_pffn) echo "$S/interformer_pffn/seed_shared_x.py" ;;
    rmsnorm_bwd) echo "$S/rmsnorm_bwd/seed_one_launch.py" ;;
    *) echo "$S/$1/seed.py" ;;
  esac
}

date -u
# the tree: a copied checkout may carry older git metadata than its files, so say how far the files are from it
echo "git HEAD $(git rev-parse --short HEAD 2>/dev/null), $(git status --porcelain 2>/dev/null | wc -l) paths differ from it"
python3 -c "import torch, triton, sys; print('torch', torch.__version__, 'triton', triton.__version__, 'python', sys.version.split()[0])"
CUDA=0
if [ "$PLATFORM" = cuda ]; then
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader && CUDA=1
fi
# bench_ops' processes (steps 1 and 3) share this cache; a search's workers get the run's own (eval/sandbox.py).
export TORCHINDUCTOR_CACHE_DIR=/tmp/i18cache/inductor TRITON_CACHE_DIR=/tmp/i18cache/triton

if [ "$CUDA" = 1 ]; then
  echo "== 1. torch.compile baselines of every task, in parallel (cap ${T_PREWARM} s)"
  pids=()
  for t in $COMPILE_TASKS; do
    timeout "$T_PREWARM" python3 benchmarks/bench_ops.py --compile-only --kernel "$t=$(seed_for "$t")" \
      >"$STORE/prewarm_$t.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  grep -h "compiled" "$STORE"/prewarm_*.log | sed 's/^/  /'
  echo "  prewarm done at ${SECONDS} s"
fi

# BASELINE=compile (opt-in, not yet tried on a GPU): the judge divides by torch.compile instead of eager. Its first
# worker per search compiles the static per-shape max-autotune baselines unless its cache has them, so step 1's
# caches seed each task's machine-wide warm snapshot of the judge (eval.compile_cache, kernelevolve/eval/
# kernel_cache.py): on a cache hit the worker loads them (seconds); on a miss it autotunes inside the search's
# budget (15-70 s a task). The verdicts' phase.worker.setup_s in the stores shows which happened.
JUDGE_CACHE=/tmp/i18judgecache
if [ "$CUDA" = 1 ] && [ "$BASELINE" = compile ]; then
  echo "== 1b. step 1's compile caches seed the judge's warm snapshot of each task"
  python3 - "$JUDGE_CACHE" $COMPILE_TASKS <<'PY'
import sys
from pathlib import Path

from kernelevolve.eval import kernel_cache
from kernelevolve.eval.baseline_cache import file_sha256
from kernelevolve.tasks import load_task

root, tasks = sys.argv[1], sys.argv[2:]
prewarmed = Path("/tmp/i18cache")  # TORCHINDUCTOR_CACHE_DIR / TRITON_CACHE_DIR of step 1, one level up
for name in tasks:
    snapshot = kernel_cache.machine_snapshot(root, file_sha256(load_task(name).path))
    print(f"  {name}: {kernel_cache._copy_caches(prewarmed, snapshot)} files -> {snapshot}")
PY
fi

echo "== 2. searches (offline operator, cluster=local, eval.baseline=$BASELINE, run.seed=18, concurrency $CONC)"
runs=()
budget() {
  for kv in $WALLS; do [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }; done
  if [ "$1" = conv1d ]; then echo "$WALL_CONV"; else echo "$WALL_OTHER"; fi
}
todo=" $TASKS "
for t in $TASKS; do
  todo=${todo/ $t / }
  wall=$(budget "$t")
  # Each search costs its wall budget plus ~15 s of start, drain, export and report; when what is left (less the
  # re-measurement's reserve) cannot pay for this and the remaining searches, every budget shrinks in proportion.
  plan=$((wall + 15))
  for u in $todo; do plan=$((plan + $(budget "$u") + 15)); done
  have=$(( $(left) - BENCH_RESERVE_S ))
  [ "$have" -lt "$plan" ] && wall=$(( (wall + 15) * have / plan - 15 ))
  if [ "$wall" -lt 10 ]; then
    echo "  $t: skipped (${SECONDS} s gone; the rest is kept for the re-measurement)"
    continue
  fi
  seed=$(seed_for "$t")
  echo "-- $t: seed $seed, search.max_wall_s=$wall (at ${SECONDS} s)"
  timeout $((wall + 60)) python3 -m kernelevolve.launch +experiment="$t" platform="$PLATFORM" cluster=local \
    llm=offline eval.baseline="$BASELINE" eval.compile_cache="$JUDGE_CACHE" operator.seed_path="$seed" \
    operator.rewrite_prob="$REWRITE_PROB" \
    search.max_steps=100000 search.stall=0 \
    search.max_wall_s="$wall" search.concurrency="$CONC" run.seed=18 store.root="$STORE" run.id="${TAG}_$t" \
    >"$STORE/launch_$t.log" 2>&1
  echo "   exit $? at ${SECONDS} s; $(grep -h '^kernelevolve-summary' "$STORE/launch_$t.log" | cut -c1-400)"
  grep -h "^export:\|Error\|error:" "$STORE/launch_$t.log" | head -5 | sed 's/^/   /'
  [ -f "$STORE/${TAG}_$t/export/dispatch.json" ] && runs+=("$STORE/${TAG}_$t")
done

for r in ${EXTRA_RUNS:-}; do  # finished runs of earlier calls (their stores carried here) re-measured beside these
  if [ -f "$r/export/dispatch.json" ]; then runs+=("$r"); else echo "  EXTRA_RUNS: $r has no export; skipped"; fi
done
if [ "$CUDA" = 1 ] && [ "${#runs[@]}" -gt 0 ]; then
  cap=$(( $(left) - 20 ))
  echo "== 3. bench_ops.py on the exported kernels (cap ${cap} s, at ${SECONDS} s)"
  args=()
  for r in "${runs[@]}"; do args+=(--run "$r"); done
  [ "$cap" -gt 10 ] && timeout "$cap" python3 benchmarks/bench_ops.py "${args[@]}" --reps-ms "${REPS_MS:-60}" \
    --compile-tasks "$(echo $COMPILE_TASKS | tr ' ' ,)" --json "$OUT/ops.json"
  echo "   bench_ops exit $? at ${SECONDS} s"
fi

if [ "$CUDA" = 1 ] && [[ " $TASKS " == *" rmsnorm_bwd "* ]] && [ $(( $(left) - 15 )) -ge 25 ]; then
  echo "== 3c. rmsnorm_bwd's two seeds side by side, with the host's time per call (seeds, not search results)"
  timeout $(( $(left) - 15 )) python3 benchmarks/bench_ops.py --no-compile --reps-ms "${REPS_MS:-60}" \
    --kernel "rmsnorm_bwd=$S/rmsnorm_bwd/seed.py" --kernel "rmsnorm_bwd=$S/rmsnorm_bwd/seed_one_launch.py" \
    --json "$OUT/rmsnorm_seeds.json"
fi

if [ "$CUDA" = 1 ] && [ "${SWEEP_FP32:-0}" = 1 ] && [ $(( $(left) - 15 )) -ge 20 ]; then  # opt-in: SWEEP_FP32=1
  echo "== 3b. conv1d fp32 precision paths of the implicit-GEMM seed (what the search can choose; not a search result)"
  timeout $(( $(left) - 15 )) python3 benchmarks/sweep_seed.py conv1d "$S/conv1d/seed_implicit_gemm.py" \
    --shape b2048_fp32 --reps-ms 40 --configs '[{}, {"NUM_WARPS": 8}, {"FP32_TF32": 0}, {"FP32_TF32": 1},
    {"FP32_TF32": 1, "NUM_STAGES": 2}, {"BLOCK_CI": 16, "NUM_WARPS": 8}]'
fi

echo "== 4. summary"
python3 benchmarks/search_summary.py "$STORE"/"${TAG}"_* --ops "$OUT/ops.json" --json "$OUT/summary.json" \
  | tee "$OUT/summary.md"
tar czf "$OUT/runs.tar.gz" -C "$STORE" --exclude='*/eval' . 2>/dev/null
if [ "$(stat -c %s "$OUT/runs.tar.gz")" -gt 15000000 ]; then  # the device returns files up to 16 MiB
  tar czf "$OUT/runs.tar.gz" -C "$STORE" --exclude='*/eval' --exclude='*/objects' .
fi
ls -l "$OUT"
echo "done at ${SECONDS} s"; date -u
