"""Seed kernels of every built-in task vs eager PyTorch and torch.compile, at the production SHAPES (CUDA).

    python3 benchmarks/bench_seeds.py [--tasks wukong_fm,map_id] [--quick] [--heldout]

Needs only torch, triton, numpy and this repository (no hydra/ray). For each task and shape: build inputs
(seed 0), check the seed kernel against the reference under the task's tolerances (fp32 reference where the
task sets UPCAST_REFERENCE), then time seed, eager Model and torch.compile(mode="max-autotune-no-cudagraphs")
with triton.testing.do_bench(return_mode="median"), which flushes L2 before every call. Each shape gets a fresh
static compile (torch._dynamo.reset()), and compile time is reported. --quick: first shape of each task, fewer
reps. --heldout: also check correctness (no timing) on HELDOUT_SHAPES. JSON goes to $OUT/seeds.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import triton
import triton.testing

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernelevolve.tasks import ShapeSet, load_task  # noqa: E402
from kernelevolve.tasks.compare import compare  # noqa: E402
from kernelevolve.tasks.reference import (  # noqa: E402
    as_outputs,
    build_model,
    compile_reference,
    move_inputs,
    run_reference,
)

# batch_event_truncate last: if its compiled baseline kills the CUDA context, the other tasks are done.
TASKS = ("wukong_fm", "interformer_pffn", "map_id", "mbdt", "rmsnorm_bwd", "batch_event_truncate")


def _load_seed(task_name: str):
    path = ROOT / "knowledge_base" / "samples" / task_name / "seed.py"
    spec = importlib.util.spec_from_file_location(f"seed_{task_name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(task, shape, seed_model, inputs) -> tuple[bool, str]:
    """Returns (ok, worst comparison) of the seed against the reference on CUDA."""
    ref = run_reference(task, shape, inputs, device="cuda", upcast=task.upcast_reference)
    native = run_reference(task, shape, inputs, device="cuda") if task.upcast_reference else ref
    with torch.no_grad():
        out = as_outputs(seed_model(*inputs), task)
    notes = []
    for i, (o, r, n) in enumerate(zip(out, ref, native, strict=True)):
        if o.dtype != n.dtype or o.device.type != "cuda":
            return False, f"output {i}: {o.dtype} on {o.device}, expected {n.dtype} on cuda"
        c = compare(o, r, task.tolerance(o, i, shape_name=shape), check_dtype=False)
        if not c.ok:
            return False, f"output {i}: {c.reason}"
        notes.append(f"{c.max_abs:.2g}")
    return True, "max abs err " + "/".join(notes)


def _bench(fn, inputs, reps_ms: int) -> float:
    with torch.no_grad():
        return triton.testing.do_bench(lambda: fn(*inputs), warmup=max(10, reps_ms // 4), rep=reps_ms,
                                       return_mode="median")


def _run_shape(task, seed_mod, shape: str, reps_ms: int) -> dict:
    inputs = move_inputs(task.make_inputs(shape, 0), "cuda")
    seed_model = seed_mod.ModelNew(*task.make_init_inputs(shape)).cuda()
    ok, note = _check(task, shape, seed_model, inputs)
    row = {"task": task.name, "shape": shape, "ok": ok, "note": note}
    if not ok:
        return row
    eager = build_model(task, shape, 0, "cuda")
    row["seed_ms"] = _bench(seed_model, inputs, reps_ms)
    row["eager_ms"] = _bench(eager, inputs, reps_ms)
    compiled, info = compile_reference(task, shape, inputs)
    row.update(info)
    if compiled is not None:
        row["compile_ms"] = _bench(compiled, inputs, reps_ms)
    return row


def _check_heldout(task, seed_mod) -> list[dict]:
    rows = []
    for shape in task.shapes(ShapeSet.PRODUCTION, heldout=True):
        inputs = move_inputs(task.make_inputs(shape, 0), "cuda")
        ok, note = _check(task, shape, seed_mod.ModelNew(*task.make_init_inputs(shape)).cuda(), inputs)
        rows.append({"task": task.name, "shape": shape, "ok": ok, "note": note, "heldout": True})
        del inputs
        torch.cuda.empty_cache()
    return rows


def _cuda_lost(row: dict) -> str:
    """Returns why the CUDA context is unusable after a failed compile (sticky device error), else ""."""
    if "compile_error" not in row:
        return ""
    try:
        torch.cuda.synchronize()
    except RuntimeError as exc:
        return f"CUDA context lost after torch.compile failed on {row['task']} {row['shape']} ({exc})"
    return ""


def _print_table(rows: list[dict]) -> None:
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  triton {triton.__version__}")
    print("| task | shape | seed ms | eager ms | compile ms | vs eager | vs compile | compile s | check |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "seed_ms" not in r:
            print(f"| {r['task']} | {r['shape']} | | | | | | | {'ok' if r['ok'] else 'FAIL'}: {r['note']} |")
            continue
        if "compile_ms" not in r:
            print(f"| {r['task']} | {r['shape']} | {r['seed_ms']:.4f} | {r['eager_ms']:.4f} | failed |"
                  f" {r['eager_ms'] / r['seed_ms']:.2f}x | | | ok; torch.compile: {r['compile_error']} |")
            continue
        print(f"| {r['task']} | {r['shape']} | {r['seed_ms']:.4f} | {r['eager_ms']:.4f} | {r['compile_ms']:.4f} |"
              f" {r['eager_ms'] / r['seed_ms']:.2f}x | {r['compile_ms'] / r['seed_ms']:.2f}x |"
              f" {r['compile_s']:.1f} | ok |")
    for task in dict.fromkeys(r["task"] for r in rows if "seed_ms" in r):
        ratios = [r["compile_ms"] / r["seed_ms"] for r in rows if r["task"] == task and "compile_ms" in r]
        if ratios:
            print(f"{task}: geomean vs torch.compile {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated built-in task names")
    parser.add_argument("--quick", action="store_true", help="first shape per task, fewer reps")
    parser.add_argument("--heldout", action="store_true", help="also check correctness on HELDOUT_SHAPES")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_seeds needs a CUDA device")
        return 2
    rows: list[dict] = []
    lost = ""
    start = time.perf_counter()
    for name in args.tasks.split(","):
        task, seed_mod = load_task(name), _load_seed(name)
        shapes = list(task.shapes(ShapeSet.PRODUCTION))
        for shape in shapes[:1] if args.quick else shapes:
            if lost:
                rows.append({"task": name, "shape": shape, "ok": False, "note": f"not run: {lost}"})
                continue
            rows.append(_run_shape(task, seed_mod, shape, reps_ms=50 if args.quick else 200))
            print(f"[{time.perf_counter() - start:6.1f}s] {name} {shape}: {rows[-1]['note']}"
                  f"{' compile: ' + rows[-1]['compile_error'] if 'compile_error' in rows[-1] else ''}", flush=True)
            lost = _cuda_lost(rows[-1])
        if args.heldout:
            rows.extend(_check_heldout(task, seed_mod))
    _print_table(rows)
    if os.environ.get("OUT"):
        meta = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
                "wall_s": time.perf_counter() - start}
        Path(os.environ["OUT"], "seeds.json").write_text(json.dumps({"rows": rows, **meta}, indent=1))
    return 0 if all(r["ok"] for r in rows) else 1  # a failed torch.compile baseline is reported, not fatal


if __name__ == "__main__":
    sys.exit(main())
