#!/usr/bin/env bash
# Issue 18: one bounded GPU call for the conv1d TMA seed (knowledge_base/samples/conv1d/seed_tma.py) beside the
# implicit-GEMM seed's best (NUM_STAGES=2), at b2048_fp16, then b256_fp16 and the OOD shape.
#   OUT=/some/dir bash benchmarks/gpu_conv1d_tma.sh        (from the repo root, on a CUDA machine; ~115 s at most)
# Every step is capped with `timeout` (each overridable: T_REF, T_TMA, T_B256, T_OOD, T_OPS, T_OOD_EAGER) so the
# later ones still run; a step killed by its cap leaves its rows in all.log (sweep_seed prints each as it goes) but
# no JSON. (The 2026-12-07 run at commit 602207b also tried every tap by TMA at l0 + t - PAD: an illegal instruction
# on the H100, so that mode is gone from the seed.)
# Output in $OUT: all.log and up to 6 JSON files.
set -u
S=knowledge_base/samples/conv1d
SWEEP="python3 benchmarks/sweep_seed.py conv1d"
exec > >(tee "$OUT/all.log") 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton, sys; print('torch', torch.__version__, 'triton', triton.__version__, 'python', sys.version.split()[0])"
date -u
# sweep_seed writes $OUT/sweep_conv1d_<shape>.json; each step renames its file so the next one does not overwrite it
keep() { [ -f "$OUT/sweep_conv1d_$1.json" ] && mv "$OUT/sweep_conv1d_$1.json" "$OUT/$2.json"; }

echo "== reference: seed_implicit_gemm.py at b2048_fp16 (NUM_STAGES=2 was 0.160 ms)"
timeout "${T_REF:-18}" $SWEEP $S/seed_implicit_gemm.py --shape b2048_fp16 --reps-ms 50 \
  --configs '[{"NUM_STAGES": 2}, {}]'
keep b2048_fp16 ref_implicit_gemm_b2048_fp16

echo "== seed_tma.py, aligned TMA boxes only: centre tap (TAP_TMA=0) or centre + halo boxes and gathers (2), b2048_fp16"
timeout "${T_TMA:-40}" $SWEEP $S/seed_tma.py --shape b2048_fp16 --reps-ms 50 --configs '[{}, {"NUM_STAGES": 2},
  {"PROGS_PER_SM": 1}, {"TAP_TMA": 2}, {"TAP_TMA": 2, "NUM_WARPS": 8}, {"TAP_TMA": 2, "NUM_STAGES": 2, "PROGS_PER_SM": 1},
  {"BLOCK_L": 256, "NUM_WARPS": 8, "NUM_STAGES": 2}, {"STORE_TMA": 0}]'
keep b2048_fp16 tma_b2048_fp16

echo "== b256_fp16"
timeout "${T_B256:-18}" $SWEEP $S/seed_tma.py --shape b256_fp16 --reps-ms 50 --configs '[{}, {"PROGS_PER_SM": 1},
  {"TAP_TMA": 2}]'
keep b256_fp16 tma_b256_fp16

echo "== OOD 64x768x768x1024 (Cout > MAX_CO: channel tiles over the grid)"
timeout "${T_OOD:-14}" $SWEEP $S/seed_tma.py --shape ood_64x768x1024 --reps-ms 50 --configs '[{},
  {"TAP_TMA": 2}]'
keep ood_64x768x1024 tma_ood

echo "== eager and conv2d channels-last beside both seeds' defaults (no torch.compile: its autotune takes minutes)"
timeout "${T_OPS:-14}" python3 benchmarks/bench_ops.py --kernel conv1d=$S/seed_tma.py \
  --kernel conv1d=$S/seed_implicit_gemm.py --shapes b2048_fp16,b256_fp16 --no-compile --reps-ms 50 \
  --json "$OUT/ops_conv1d.json"
echo "== eager F.conv1d at the OOD shape (bench_ops covers production shapes only)"
timeout "${T_OOD_EAGER:-10}" python3 - <<'PY'
import sys
sys.path.insert(0, "benchmarks")
from bench_ops import DEVICE, _time
from kernelevolve.tasks import load_task
from kernelevolve.tasks.reference import move_inputs
task = load_task("conv1d")
inputs = move_inputs(task.make_inputs("ood_64x768x1024", 0), DEVICE)
print("eager ood_64x768x1024", _time(task.module.Model().to(DEVICE), inputs, 50))
PY
date -u
