#!/usr/bin/env bash
# Issue 18's one GPU validation call: the structural seeds (samples/<task>/seed_*.py) beside the plain seeds on the
# production shapes, a tunable sweep of the conv1d implicit-GEMM seed, then a short conv1d search starting from it.
#   OUT=/some/dir bash benchmarks/gpu_structural_seeds.sh        (from the repo root, on a CUDA machine)
# Every step has a wall-clock cap so the later ones still run; all output lands in $OUT (7 files).
set -u
S=knowledge_base/samples
exec > >(tee "$OUT/all.log") 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton, sys; print('torch', torch.__version__, 'triton', triton.__version__, 'python', sys.version.split()[0])"
date -u
KERNELS="--kernel conv1d=$S/conv1d/seed_implicit_gemm.py --kernel conv1d=$S/conv1d/seed.py
 --kernel wukong_fm=$S/wukong_fm/seed_batched_gram.py --kernel wukong_fm=$S/wukong_fm/seed.py
 --kernel interformer_pffn=$S/interformer_pffn/seed_shared_x.py --kernel interformer_pffn=$S/interformer_pffn/seed.py"
HEAD=b2048_fp16,b1024_n24_k2198,b1024_n200_d256_k160
REST=b256_fp16,b2048_fp32,b1024_n40_k448,b1024_n48_k448,b1024_n200_d192_k96,b1024_n400_d256_k160,b1024_n150_d96_k192
echo "== headline shapes, with torch.compile"
timeout "${T_HEAD:-90}" python3 benchmarks/bench_ops.py $KERNELS --shapes $HEAD --reps-ms 100 --json "$OUT/ops_headline.json"
echo "== conv1d implicit-GEMM seed: tunable sweep at b2048_fp16"
timeout "${T_SWEEP:-40}" python3 benchmarks/sweep_seed.py conv1d $S/conv1d/seed_implicit_gemm.py --shape b2048_fp16 \
  --reps-ms 50 --configs '[{}, {"HALO_GATHER": 1}, {"HALO_GATHER": 1, "NUM_WARPS": 8}, {"NUM_WARPS": 8},
  {"BLOCK_L": 256, "NUM_WARPS": 8}, {"HALO_GATHER": 1, "BLOCK_L": 256, "NUM_WARPS": 8}, {"BLOCK_L": 64},
  {"HALO_GATHER": 1, "BLOCK_L": 64}, {"B_PER_PROG": 2}, {"PACK_W": 0}, {"NUM_STAGES": 2}, {"BLOCK_CI": 64},
  {"BLOCK_CI": 16, "NUM_STAGES": 4}, {"BLOCK_L": 256, "NUM_WARPS": 4, "NUM_STAGES": 2}, {"B_PER_PROG": 4},
  {"BLOCK_L": 64, "NUM_WARPS": 2}]'
echo "== other production shapes, eager only"
timeout "${T_REST:-40}" python3 benchmarks/bench_ops.py $KERNELS --shapes $REST --no-compile --reps-ms 60 \
  --json "$OUT/ops_rest.json"
echo "== short conv1d search from the implicit-GEMM seed"
timeout "${T_SEARCH:-55}" python3 -m kernelevolve.launch +experiment=conv1d platform=cuda \
  operator.seed_path=$S/conv1d/seed_implicit_gemm.py search.max_steps=40 search.stall=0 \
  search.max_wall_s="${T_SEARCH_WALL:-35}" store.root=/tmp/i18runs run.id=i18_conv1d
for f in report.md best_kernel.py export/DISPATCH.md; do
  [ -f "/tmp/i18runs/i18_conv1d/$f" ] && cp "/tmp/i18runs/i18_conv1d/$f" "$OUT/search_$(basename "$f")"
done
date -u
