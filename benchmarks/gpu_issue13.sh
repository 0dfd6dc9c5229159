#!/usr/bin/env bash
# Issue 13's acceptance numbers in one device call (~500 s on an H100): every built-in task's first verdict (cold,
# and in a next run with the machine-wide compile cache warm) and warm verdicts, then the conv1d search with 1 and
# 2 judges per device.
#   OUT=/some/dir bash benchmarks/gpu_issue13.sh     (repo root, CUDA machine, hydra/omegaconf importable)
# TASKS, REPEATS, JUDGES, WALL, NEXT_RUN, T_TASK (cap per task) and SEARCH_EXTRA (more launch overrides) override the
# defaults; every step has a wall-clock cap so the later ones still run. The call takes up to (tasks x T_TASK) +
# (judges x (WALL + 40)) s: choose TASKS and T_TASK to fit the device's 600 s.
set -u
: "${OUT:?OUT must name a directory}"
exec > >(tee "$OUT/issue13.log") 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton, sys; print('torch', torch.__version__, 'triton', triton.__version__, 'python', sys.version.split()[0])"
# the tree: a copied checkout may carry older git metadata than its files, so say how far the files are from it
date -u; echo "git HEAD $(git rev-parse --short HEAD 2>/dev/null), $(git status --porcelain 2>/dev/null | wc -l) paths differ from it"
echo "== every task: first verdict cold (and in a next run with NEXT_RUN), warm verdicts; one process and cap per task"
NEXT_RUN=${NEXT_RUN---next-run}  # set NEXT_RUN= to skip the second (warm machine cache) first verdict
TASKS=${TASKS:-all}
[ "$TASKS" = all ] && TASKS=$(python3 -c "from kernelevolve.tasks.loader import builtin_task_names as n; print(','.join(n()))")
for t in ${TASKS//,/ }; do
  # each task its own cap (T_TASK s), so one slow first verdict (mbdt's 126 s) does not cost the others theirs;
  # a capped bench_eval unwinds on SIGTERM and kills its judge's processes before the next task starts
  # shellcheck disable=SC2086  # NEXT_RUN is one flag or nothing
  OUT=$OUT/eval_$t timeout "${T_TASK:-120}" python3 benchmarks/bench_eval.py --tasks "$t" --repeats "${REPEATS:-3}" $NEXT_RUN
  echo "   $t: exit $? at ${SECONDS} s (124: stopped at its ${T_TASK:-120} s cap)"
done
python3 - "$OUT" <<'PY'  # one bench_eval.json over the tasks that wrote one (each writes after every task)
import json, shutil, sys
from pathlib import Path
out = Path(sys.argv[1])
runs = []
for part in sorted(out.glob("eval_*/bench_eval.json")):
    data = json.loads(part.read_text())
    runs += data["runs"]
    shutil.rmtree(part.parent)
if runs:
    (out / "bench_eval.json").write_text(json.dumps({"device": data["device"], "runs": runs}, indent=2))
PY
WALL=${WALL:-50}
for K in ${JUDGES:-1 2}; do
  echo "== conv1d search, judges_per_device=$K"
  timeout $((WALL + 40)) python3 benchmarks/bench_throughput.py --wall "$WALL" --run-id "i13k$K" -- \
    +experiment=conv1d platform=cuda cluster=local search.concurrency=8 eval.judges_per_device=$K ${SEARCH_EXTRA:-}
  [ -f "$OUT/bench_throughput.json" ] && mv "$OUT/bench_throughput.json" "$OUT/search_k$K.json"
done
date -u
