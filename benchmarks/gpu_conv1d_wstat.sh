#!/usr/bin/env bash
# One bounded GPU call for the weight-stationary conv1d seed (knowledge_base/samples/conv1d/seed_wstat.py: weights as
# the MMA's A operand, x in its natural layout, resident weights, persistent programs) beside the TMA seed's best
# (seed_tma.py NUM_STAGES=2, 0.150 ms on the H100 in the seventh session), at b2048_fp16, then its three best guesses
# at b256_fp16 and at the OOD shape (64x768x768x1024: Cout > MAX_CO, Cin too wide to unroll, weights not resident).
#   OUT=/some/dir bash benchmarks/gpu_conv1d_wstat.sh        (from the repo root, on a CUDA machine; ~140 s at most)
#   REF_ALL=1 also times seed_tma.py NUM_STAGES=2 at b256_fp16 and the OOD shape in this call (~25 s more).
# Every step is capped with `timeout` (each overridable: T_REF, T_WSTAT, T_B256, T_OOD, T_REF_B256, T_REF_OOD) so
# the later ones still run; a step killed by its cap leaves its rows in all.log (sweep_seed prints each as it goes)
# but no JSON. Every config here compiled for sm_90a without a GPU (benchmarks/static_profile.py, Triton 3.6.0 and
# 3.7.1): no spills, at most 160 KB of shared memory.
#   PATH=.venv/bin:$PATH OUT=/tmp/o CHECK_ONLY=1 REF_ALL=1 bash benchmarks/gpu_conv1d_wstat.sh   (no GPU: the same
#   steps and configs under the Triton interpreter, each shape replaced by a small stand-in of its kind, timings
#   stubbed to 0, caps 600 s; under a minute)
# Output in $OUT: all.log and up to 4 (REF_ALL=1: 6) JSON files.
set -u
S=knowledge_base/samples/conv1d
SWEEP="python3 benchmarks/sweep_seed.py conv1d"
exec > >(tee "$OUT/all.log") 2>&1
if [ "${CHECK_ONLY:-0}" = 1 ]; then  # sweep_seed.py is CUDA-only: run its sweep() on the CPU with these stand-ins
  cat > "$OUT/cpu_sweep.py" <<'PY'
import argparse, json, os, sys
sys.path.insert(0, "benchmarks")
import bench_ops, sweep_seed
from kernelevolve.tasks import load_task
STAND_IN = {"b2048_fp16": {"B": 2, "Cin": 37, "Cout": 41, "L": 72, "K": 3, "dtype": "float16"},  # TMA-legal, tails
            "b256_fp16": {"B": 2, "Cin": 37, "Cout": 41, "L": 72, "K": 3, "dtype": "float16"},
            "ood_64x768x1024": {"B": 1, "Cin": 300, "Cout": 140, "L": 24, "K": 3, "dtype": "float16"}}  # loop, 2 tiles
parser = argparse.ArgumentParser()
for arg in ("task", "kernel"):
    parser.add_argument(arg)
for opt in ("--shape", "--reps-ms", "--configs"):
    parser.add_argument(opt)
args = parser.parse_args()
task = load_task(args.task)
for shapes in (task.module.SHAPES, task.module.HELDOUT_SHAPES):
    shapes.update({k: v for k, v in STAND_IN.items() if k in shapes})
sweep_seed.load_task = lambda name: task
bench_ops.DEVICE = sweep_seed.DEVICE = "cpu"
sweep_seed._time = lambda *a: {"median_ms": 0.0, "p20_ms": 0.0, "p80_ms": 0.0, "host_us": 0.0}
rows = sweep_seed.sweep(args.task, sweep_seed.Path(args.kernel), args.shape, json.loads(args.configs), 0)
sweep_seed.Path(os.environ["OUT"], f"sweep_{args.task}_{args.shape}.json").write_text(json.dumps({"rows": rows}))
sys.exit(0 if all(r["ok"] for r in rows) else 1)
PY
  SWEEP="env TRITON_INTERPRET=1 python3 $OUT/cpu_sweep.py conv1d"
  for t in T_REF T_WSTAT T_B256 T_OOD T_REF_B256 T_REF_OOD; do export "$t=${!t:-600}"; done
else
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
fi
python3 -c "import torch, triton, sys; print('torch', torch.__version__, 'triton', triton.__version__, 'python', sys.version.split()[0])"
date -u
# sweep_seed writes $OUT/sweep_conv1d_<shape>.json; each step renames its file so the next one does not overwrite it
keep() { [ -f "$OUT/sweep_conv1d_$1.json" ] && mv "$OUT/sweep_conv1d_$1.json" "$OUT/$2.json"; }

# The sweeps, one JSON list each (the CPU check reads them from here: keep each on its own `NAME='...'` lines).
B2048='[{}, {"X_SHIFT": 0}, {"NUM_STAGES": 2, "PROGS_PER_SM": 1}, {"PROGS_PER_SM": 1}, {"BLOCK_L": 64},
  {"BLOCK_L": 64, "NUM_STAGES": 2}, {"BLOCK_L": 256, "PROGS_PER_SM": 1}, {"BLOCK_CI": 16}, {"BLOCK_CI": 64, "PROGS_PER_SM": 1},
  {"NUM_WARPS": 4}, {"STORE_TMA": 0}, {"W_RESIDENT": 0}, {"W_RESIDENT": 0, "NUM_STAGES": 2, "PROGS_PER_SM": 1},
  {"X_TMA": 0}, {"X_SHIFT": 0, "NUM_STAGES": 2, "PROGS_PER_SM": 1}]'
B256='[{}, {"X_SHIFT": 0}, {"NUM_STAGES": 2, "PROGS_PER_SM": 1}, {"W_RESIDENT": 0, "PROGS_PER_SM": 0}]'
OOD='[{}, {"NUM_STAGES": 2}, {"NUM_STAGES": 2, "X_SHIFT": 0}, {"NUM_STAGES": 3, "PROGS_PER_SM": 1}]'

echo "== reference: seed_tma.py NUM_STAGES=2 at b2048_fp16 (0.150 ms in the seventh session)"
timeout "${T_REF:-15}" $SWEEP $S/seed_tma.py --shape b2048_fp16 --reps-ms 50 --configs '[{"NUM_STAGES": 2}]'
keep b2048_fp16 ref_tma_b2048_fp16

echo "== seed_wstat.py at b2048_fp16: shifted taps in registers or loaded, residency, persistence, stages, tile width, store path"
timeout "${T_WSTAT:-75}" $SWEEP $S/seed_wstat.py --shape b2048_fp16 --reps-ms 50 --configs "$B2048"
keep b2048_fp16 wstat_b2048_fp16

echo "== seed_wstat.py at b256_fp16 (512 tiles: about 2 a program, so residency pays less)"
timeout "${T_B256:-18}" $SWEEP $S/seed_wstat.py --shape b256_fp16 --reps-ms 50 --configs "$B256"
keep b256_fp16 wstat_b256_fp16

echo "== seed_wstat.py at ood_64x768x1024 (6 channel tiles, 24-chunk loop, weights reloaded; seed_tma 0.870, eager 0.778 ms)"
timeout "${T_OOD:-25}" $SWEEP $S/seed_wstat.py --shape ood_64x768x1024 --reps-ms 50 --configs "$OOD"
keep ood_64x768x1024 wstat_ood

if [ "${REF_ALL:-0}" = 1 ]; then
  echo "== reference: seed_tma.py NUM_STAGES=2 at b256_fp16 and ood_64x768x1024"
  timeout "${T_REF_B256:-12}" $SWEEP $S/seed_tma.py --shape b256_fp16 --reps-ms 50 --configs '[{"NUM_STAGES": 2}]'
  keep b256_fp16 ref_tma_b256_fp16
  timeout "${T_REF_OOD:-14}" $SWEEP $S/seed_tma.py --shape ood_64x768x1024 --reps-ms 50 --configs '[{"NUM_STAGES": 2}]'
  keep ood_64x768x1024 ref_tma_ood
fi
date -u
