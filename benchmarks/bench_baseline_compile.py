"""Where a worker's first verdict goes: the torch.compile baselines, compiled one shape after another (as a judge's
worker does at its start) or one process per shape in parallel into a shared Inductor cache, then loaded.

    python3 benchmarks/bench_baseline_compile.py --tasks interformer_pffn,rmsnorm_bwd [--json PATH]

Per task, on its production shapes (CUDA), each step in fresh processes with its own empty Inductor/Triton cache:
  sequential  one process compiles every shape in turn (torch.compile max-autotune-no-cudagraphs, static per shape
              unless the task says COMPILE_DYNAMIC; the judge worker's warm_baselines): seconds per shape, total.
  parallel    one process per shape, all at once, into one shared cache; then one process compiles every shape in
              turn from that cache (what the judge worker would then do): wall of both.
  timing      one process per cache compiles (from its cache) and times every shape's baseline with do_bench
              (L2 flushed, median): whether autotuning beside other processes picked slower kernels.
Nothing here is a test; the numbers go to benchmarks/RESULTS.md (issue 13).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(args: argparse.Namespace) -> None:
    """Compiles (and with --time, times) the baselines of the given shapes in this process; prints one JSON line."""
    sys.path.insert(0, str(ROOT))
    import torch
    import triton.testing

    from kernelevolve.tasks import load_task
    from kernelevolve.tasks.reference import build_model, compile_baseline, move_inputs

    task = load_task(args.task)
    rows = {}
    for shape in args.shapes.split(","):
        inputs = move_inputs(task.make_inputs(shape, 0, "cuda"), "cuda")
        model = compile_baseline(build_model(task, shape, 0, "cuda"), task.compile_dynamic)

        def run(model=model, inputs=inputs):
            with torch.no_grad():
                return model(*inputs)

        start = time.perf_counter()
        with torch._inductor.config.patch(task.compile_options):
            run()
        torch.cuda.synchronize()
        rows[shape] = {"compile_s": round(time.perf_counter() - start, 3)}
        if args.time:
            rows[shape]["ms"] = triton.testing.do_bench(run, warmup=25, rep=100, return_mode="median")
    print("RESULT " + json.dumps(rows), flush=True)


def _spawn(task: str, shapes: list[str], cache: Path, time_it: bool = False) -> subprocess.Popen:
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(cache / "inductor"), TRITON_CACHE_DIR=str(cache / "triton"),
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    cmd = [sys.executable, __file__, "--child", "--task", task, "--shapes", ",".join(shapes)] + (["--time"] if time_it else [])
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _collect(procs: list[subprocess.Popen]) -> dict:
    rows = {}
    for proc in procs:
        out, err = proc.communicate()
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            raise SystemExit(f"child failed (exit {proc.returncode}): {err.strip()[-600:]}")
        rows.update(json.loads(lines[-1].removeprefix("RESULT ")))
    return rows


def bench_task(task_name: str, tmp: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from kernelevolve.tasks import ShapeSet, load_task

    shapes = list(load_task(task_name).shapes(ShapeSet.PRODUCTION))
    seq_cache, par_cache = tmp / f"{task_name}_seq", tmp / f"{task_name}_par"
    start = time.perf_counter()
    sequential = _collect([_spawn(task_name, shapes, seq_cache)])
    seq_wall = time.perf_counter() - start
    start = time.perf_counter()
    parallel = _collect([_spawn(task_name, [s], par_cache) for s in shapes])
    par_wall = time.perf_counter() - start
    start = time.perf_counter()
    loaded = _collect([_spawn(task_name, shapes, par_cache)])
    load_wall = time.perf_counter() - start
    timed_seq = _collect([_spawn(task_name, shapes, seq_cache, time_it=True)])
    timed_par = _collect([_spawn(task_name, shapes, par_cache, time_it=True)])
    row = {"task": task_name, "shapes": shapes, "sequential_wall_s": seq_wall, "parallel_wall_s": par_wall,
           "load_after_parallel_wall_s": load_wall, "sequential": sequential, "parallel": parallel, "loaded": loaded,
           "ms_sequential_cache": {s: timed_seq[s]["ms"] for s in shapes},
           "ms_parallel_cache": {s: timed_par[s]["ms"] for s in shapes}}
    print(f"== {task_name}: {len(shapes)} shapes")
    def per_shape(rows: dict) -> str:
        return ", ".join(f"{s} {rows[s]['compile_s']:.1f}" for s in shapes)

    print(f"  sequential compile: {seq_wall:.1f} s wall (per shape {per_shape(sequential)})")
    print(f"  parallel compile:   {par_wall:.1f} s wall (per shape {per_shape(parallel)}), then the worker's load "
          f"from that cache {load_wall:.1f} s (per shape {per_shape(loaded)})")
    for s in shapes:
        a, b = row["ms_sequential_cache"][s], row["ms_parallel_cache"][s]
        print(f"  {s}: baseline {a:.4f} ms (compiled alone) vs {b:.4f} ms (compiled beside others): {b / a:.3f}x")
    ratios = [row["ms_parallel_cache"][s] / row["ms_sequential_cache"][s] for s in shapes]
    row["median_time_ratio"] = statistics.median(ratios)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="interformer_pffn,rmsnorm_bwd")
    parser.add_argument("--json", default=os.path.join(os.environ.get("OUT", "."), "baseline_compile.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--shapes", help=argparse.SUPPRESS)
    parser.add_argument("--time", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench_baseline_compile_") as tmp:
        rows = [bench_task(t, Path(tmp)) for t in args.tasks.split(",")]
    Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
