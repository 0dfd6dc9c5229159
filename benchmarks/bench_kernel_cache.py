"""Benchmarks what the per-process kernel caches (kernelevolve/eval/kernel_cache.py) cost a worker and a verdict.

`python benchmarks/bench_kernel_cache.py --files 3000 --kib 20 --runs 5`: a synthetic warm snapshot of N files
(half Triton, half Inductor, six per key dir, random bytes) is published by a candidate-free process, then a new
process's private cache is seeded from it (once per worker start), trusted (its handshake), and bound to a new
candidate source before each job and published after it (once per verdict: the judge's bind runs inside its
verdict time). Prints the median and spread of each step over --runs fresh directories.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernelevolve.eval.kernel_cache import BoundCache, private_cache, publish_warm  # noqa: E402


def _one(files: int, size: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="bench_kernel_cache_"))
    try:
        seed = root / "first_worker" / "cache"
        for i in range(files):
            folder = seed / ("triton" if i % 2 else "inductor") / f"key{i // 6}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"file{i}.bin").write_bytes(os.urandom(size))
        times = {}
        start = time.perf_counter()
        publish_warm(seed, root)
        times["publish_warm"] = time.perf_counter() - start
        start = time.perf_counter()
        cache = private_cache(root, root / "new_worker")
        times["seed a new worker"] = time.perf_counter() - start
        start = time.perf_counter()
        bound = BoundCache(cache, root)
        times["trust"] = time.perf_counter() - start
        binds, publishes = [], []
        for job in range(5):
            start = time.perf_counter()
            bound.bind(f"# candidate {job}\n")
            binds.append(time.perf_counter() - start)
            made = bound.triton / f"made{job}"
            made.mkdir()
            (made / "kernel.cubin").write_bytes(os.urandom(size))
            start = time.perf_counter()
            bound.publish()
            publishes.append(time.perf_counter() - start)
        times["bind (per job)"] = statistics.median(binds)
        times["publish (per job)"] = statistics.median(publishes)
        return times
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--kib", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = [_one(args.files, args.kib * 1024) for _ in range(args.runs)]
    print(f"{args.files} files of {args.kib} KiB, {args.runs} runs")
    print("| step | median ms | min-max ms |\n|---|---|---|")
    for step in runs[0]:
        values = [r[step] * 1e3 for r in runs]
        print(f"| {step} | {statistics.median(values):.1f} | {min(values):.1f}-{max(values):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
