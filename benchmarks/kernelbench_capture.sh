#!/usr/bin/env bash
# Captures Inductor's Triton for KernelBench-format task files on a GPU and wraps each as a seed kernel
# (`kernelevolve seed capture --check`), several tasks at once; then judges a few wrapped seeds with the real judge.
# Usage: benchmarks/kernelbench_capture.sh OUT_DIR TASK.py...   (writes OUT_DIR/captures.tgz, capture.jsonl; JUDGE_TASKS: files to judge)
set -u
out=$1; shift
mkdir -p "$out/captures" "$out/logs"
printf '%s\n' "$@" | xargs -P "${CAPTURE_JOBS:-3}" -I{} sh -c \
  'python3 -m kernelevolve.cli seed capture "{}" --out "$0/captures" --check 2>"$0/logs/$(basename {} .py).err"' "$out" \
  > "$out/capture.jsonl"
for f in ${JUDGE_TASKS:-}; do  # the real judge (sandbox, launch count, Triton share) on a few wrapped seeds, at once
  stem=$(basename "$f" .py)
  seed="$out/captures/$stem.seed.py"
  [ -f "$seed" ] || continue
  (timeout 90 python3 -m kernelevolve.cli eval "$f" "$seed" --baseline eager --json --seeds 2 \
    >"$out/logs/judge_$stem.json" 2>"$out/logs/judge_$stem.err") &
done
wait
tar czf "$out/captures.tgz" -C "$out" captures logs
