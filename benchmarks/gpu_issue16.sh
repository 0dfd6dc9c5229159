#!/usr/bin/env bash
# Issue 16's one GPU validation call, after the filesystem jail and per-process kernel caches were merged:
# does the jail engage on this machine, is the search as fast as main's (42.5 candidates/min, judge JIT 0.011 s),
# does the judge load what the compile-only workers compiled and a new worker find the run's baselines, and do
# the GPU tests (adversarial candidates included) pass.
#   OUT=/some/dir bash benchmarks/gpu_issue16.sh     (from the repo root, on a CUDA machine; hydra and omegaconf
#   importable for the search)
# Every step has a wall-clock cap (T_* variables) so the later ones still run; the throughput run is alone on the
# machine, the rest runs side by side afterwards (one GPU: their timings are not comparable, their checks are).
# STEPS picks and orders the steps (default "jail tp rest"; "diag" runs the diagnosis alone).
set -u
: "${OUT:?OUT must name a directory}"
exec > >(tee "$OUT/all.log") 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton, sys; print('torch', torch.__version__, 'triton', triton.__version__, 'python', sys.version.split()[0])"
echo "kernel $(uname -r); uid $(id -u); lsm $(cat /sys/kernel/security/lsm 2>/dev/null || echo '?')"
date -u
jail() {
echo "== the filesystem jail on this machine (the line python -m kernelevolve.launch prints, red when no layer)"
python3 -c "from kernelevolve.eval import fsjail; s = fsjail.probe(); print(s.describe()); print('landlock ABI', s.landlock_abi, '| mount layer', s.mount, s.mount_error)"
}

tp() {
echo "== search throughput (alone on the machine)"
timeout "${T_TP:-120}" python3 benchmarks/bench_throughput.py --wall "${WALL:-60}" --run-id j16 -- +experiment=conv1d \
  platform=cuda cluster=local search.concurrency=8 > "$OUT/throughput.log" 2>&1
echo "bench_throughput exit $?"; cat "$OUT/throughput.log"
python3 - <<'EOF'
import json, sqlite3, statistics
from pathlib import Path
run = Path("runs/j16")
if not (run / "meta.db").exists():
    raise SystemExit("no runs/j16/meta.db")
with sqlite3.connect(run / "meta.db") as db:
    rows = [json.loads(m or "{}") for (m,) in db.execute("SELECT metrics_json FROM evaluations ORDER BY finished_at")]
def col(key):
    return [m[key] for m in rows if isinstance(m.get(key), (int, float))]
for key in ("phase.worker.jit_s", "triton_compile_s", "triton_load_s", "triton_jit_loads", "phase.worker_start_s",
            "eval_seconds"):
    values = col(key)
    if values:
        print(f"{key}: n={len(values)} median={statistics.median(values):.3f} max={max(values):.3f} "
              f"first={values[0]:.3f} sum_after_first={sum(values[1:]):.3f}")
starts = [round(v, 2) for v in col("phase.worker_start_s") if v > 0]
print(f"judge worker starts inside verdicts (s): {starts}")
eval_dir = run / "eval" / "cache"
for name in ("warm", "by_source"):
    files = [p for p in (eval_dir / name).rglob("*") if p.is_file()] if (eval_dir / name).exists() else []
    print(f"eval/cache/{name}: {len(files)} files, {sum(p.stat().st_size for p in files) / 2**20:.1f} MiB")
import tempfile, time
from kernelevolve.eval.kernel_cache import BoundCache, private_cache
workdir = (run / "eval").resolve()
if (workdir / "cache" / "warm").exists():  # what the caches cost a process on this run's real snapshot
    t0 = time.perf_counter(); cache = private_cache(workdir, Path(tempfile.mkdtemp(dir=workdir)))
    t1 = time.perf_counter(); bound = BoundCache(cache, workdir); t2 = time.perf_counter()
    binds, pubs = [], []
    for i in range(5):
        s = time.perf_counter(); bound.bind(f"# probe {i}\n"); binds.append(time.perf_counter() - s)
        s = time.perf_counter(); bound.publish(); pubs.append(time.perf_counter() - s)
    print(f"kernel cache cost: seeding a private cache {t1 - t0:.3f} s, trust {t2 - t1:.3f} s, bind median "
          f"{statistics.median(binds) * 1e3:.1f} ms (max {max(binds) * 1e3:.1f}), publish median "
          f"{statistics.median(pubs) * 1e3:.1f} ms")
log = run / "run.log"
if log.exists():
    lines = [l for l in log.read_text(errors="replace").splitlines()
             if any(w in l for w in ("jail", "sandbox", "kernel cache", "NOT confined", "warm compile cache"))]
    print("run.log lines on the jail and caches:", len(lines)); print("\n".join(lines[:15]))
EOF
cp runs/j16/run.log "$OUT/j16_run.log" 2>/dev/null
}

diag() {  # alone: judge JIT after precompile, a second worker's start
timeout "${T_DIAG:-85}" python3 benchmarks/diag_precompile.py > "$OUT/diag.log" 2>&1
echo "diag exit $?"; cat "$OUT/diag.log"
}

rest() {

echo "== side by side: judge JIT after precompile + a second worker's start; the GPU tests; the jail's own tests"
timeout "${T_DIAG:-85}" python3 benchmarks/diag_precompile.py > "$OUT/diag.log" 2>&1 &
DIAG=$!
timeout "${T_JAIL:-60}" python3 -m pytest -q -p no:cacheprovider tests/unit/eval/test_fsjail.py > "$OUT/fsjail_tests.log" 2>&1 &
JAIL=$!
timeout "${T_GPU:-95}" python3 -m pytest -v -p no:cacheprovider -m gpu tests/gpu/eval tests/gpu/test_precompile_gpu.py \
  tests/gpu/test_profilers_gpu.py > "$OUT/gpu_tests.log" 2>&1
echo "gpu tests exit $?"; tail -25 "$OUT/gpu_tests.log"
wait $DIAG; echo "diag exit $?"; cat "$OUT/diag.log"
wait $JAIL; echo "fsjail tests exit $?"; tail -15 "$OUT/fsjail_tests.log"
}

for step in ${STEPS:-jail tp rest}; do "$step"; done
date -u
