"""Per built-in task at its production shapes: the best kernel vs eager, torch.compile and the bytes/FLOP floor (CUDA).

    python3 benchmarks/bench_ops.py --run runs/h100_conv1d [--run ...]          # a search's kernels
    python3 benchmarks/bench_ops.py --kernel conv1d=path/to/kernel.py [...]     # given files (several per task)
        [--shapes b2048_fp16,b256_fp16] [--compile-shapes b2048_fp16] [--reps-ms 200] [--no-compile]
    python3 benchmarks/bench_ops.py --compile-only --kernel conv1d=...      # only fill the Inductor cache

Needs only torch, triton and this repository (no hydra/ray). For each (task, shape), in one process: check the
kernel against the fp32 reference under the task's tolerances, then time every correct one (the best is the
fastest), the eager Model, torch.compile
(mode max-autotune-no-cudagraphs, a fresh static compile per shape) and, for conv1d, conv2d on a channels-last
(B, Cin, 1, L) view (the paper's stronger baseline) with triton.testing.do_bench (L2 flushed before every call;
median and the 20th/80th percentiles), and the host's time to issue one call (host us/call: where it exceeds the
device time, do_bench's median is the host's time). The floor is max(bytes / bandwidth, FLOPs / peak): bytes = every input
read once + every output written once, the bandwidth measured here by a 1 GiB device copy, the FLOPs the task's
own count (flops(shape)) at the datasheet dense peak of the dtype. % of floor = floor / kernel time.
Dispatch: a run's own export decision (export/dispatch.json) when --run is given, and always the decision
export's rule makes from these timings (the kernel where it beats torch.compile, else the PyTorch fallback).
JSON goes to $OUT/ops.json (or --json PATH). --compile-only compiles the torch.compile baselines and times nothing: run
with a shared TORCHINDUCTOR_CACHE_DIR (one process per task, in parallel), a later timed run loads them from the cache
instead of spending max-autotune's minutes (benchmarks/gpu_search_all.sh).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
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

# H100 SXM datasheet dense peaks (FLOP/s): fp16/bf16 tensor cores; fp32 without TF32 (CUDA cores).
DEVICE = "cuda"
PEAK_FLOPS = {torch.float16: 989.4e12, torch.bfloat16: 989.4e12, torch.float32: 66.9e12}


def _load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"bench_ops_{path.stem}_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_kernels(run_dir: Path) -> tuple[str, dict[str, Path], dict[str, dict]]:
    """Returns (task, kernel file per shape, the export's choice per shape) of a finished search run."""
    task = sqlite3.connect(run_dir / "meta.db").execute("SELECT task FROM runs").fetchone()[0]
    dispatch = json.loads((run_dir / "export" / "dispatch.json").read_text())
    choices = {c["shape"]: {**c, "run_id": dispatch["run_id"]} for c in dispatch["choices"]}
    kernels = {shape: (run_dir / "export" / f"kernel_node{c['node_id']}.py" if c["node_id"] is not None
                       else run_dir / "best_kernel.py") for shape, c in choices.items()}
    return task, kernels, choices


def _driver() -> str:
    """Returns the NVIDIA driver version nvidia-smi reports, or why there is none."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({type(exc).__name__})"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def _bandwidth() -> float:
    """Returns the device copy bandwidth in bytes/s (read + write of a 1 GiB buffer)."""
    src = torch.empty(2**29, dtype=torch.float16, device="cuda")
    dst = torch.empty_like(src)
    ms = triton.testing.do_bench(lambda: dst.copy_(src), warmup=25, rep=200, return_mode="median")
    return 2 * src.numel() * src.element_size() / (ms * 1e-3)


def _time(fn, inputs, reps_ms: int) -> dict[str, float]:
    with torch.no_grad():
        q20, med, q80 = triton.testing.do_bench(lambda: fn(*inputs), warmup=max(10, reps_ms // 4), rep=reps_ms,
                                                quantiles=[0.2, 0.5, 0.8])
        host = host_us_per_call(fn, inputs)
    return {"median_ms": med, "p20_ms": q20, "p80_ms": q80, "host_us": host}


def host_us_per_call(fn, inputs, calls: int = 20, sync=None) -> float:
    """Returns the host's time to issue one call, microseconds: `calls` calls back to back after a sync, none
    waited for (the device's launch queue holds far more). do_bench's events bracket a call from the host's side
    too, so a call whose host time exceeds its device time is timed by its host time (allocations, launches)."""
    sync = sync or torch.cuda.synchronize
    sync()
    start = time.perf_counter()
    for _ in range(calls):
        fn(*inputs)
    elapsed = time.perf_counter() - start
    sync()
    return elapsed / calls * 1e6


def _check(task, shape: str, model, inputs) -> tuple[bool, str, tuple]:
    """Returns (within tolerance, worst error, outputs) of a model against the fp32 reference on CUDA."""
    torch.backends.cudnn.allow_tf32 = False
    ref = run_reference(task, shape, inputs, device=DEVICE, upcast=task.upcast_reference)
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default, which the timed baselines run with
    with torch.no_grad():
        out = as_outputs(model(*inputs), task)
    errors = []
    for i, (o, r) in enumerate(zip(out, ref, strict=True)):
        c = compare(o, r, task.tolerance(o, i, shape_name=shape), check_dtype=False)
        if not c.ok:
            return False, f"output {i}: {c.reason}", out
        errors.append(f"{c.max_abs:.2g}")
    return True, "max abs err " + "/".join(errors), out


def _floor(task, shape: str, inputs, outputs, bandwidth: float) -> dict[str, float | None]:
    tensors = [t for t in (*inputs, *outputs) if isinstance(t, torch.Tensor)]
    moved = sum(t.numel() * t.element_size() for t in tensors)
    flops = task.flops(shape)
    dtype = next((t.dtype for t in inputs if isinstance(t, torch.Tensor) and t.is_floating_point()), None)
    compute_ms = flops / PEAK_FLOPS[dtype] * 1e3 if flops and dtype in PEAK_FLOPS else None
    bytes_ms = moved / bandwidth * 1e3
    return {"bytes": moved, "bytes_ms": bytes_ms, "flops": flops, "flops_ms": compute_ms,
            "floor_ms": max(bytes_ms, compute_ms or 0.0)}


def _conv2d_channels_last(x, w, b):
    y = F.conv2d(x.unsqueeze(2).contiguous(memory_format=torch.channels_last), w.unsqueeze(2), b,
                 padding=(0, w.shape[-1] // 2))
    return y.squeeze(2)


def _kernel_entry(task, shape: str, name: str, path: Path, inputs, reps_ms: int) -> dict:
    """Returns one kernel's check and (when correct) timing on a shape."""
    try:
        model = _load_module(path).ModelNew(*task.make_init_inputs(shape)).to(DEVICE)
        ok, note, outputs = _check(task, shape, model, inputs)
    except Exception as exc:  # noqa: BLE001 - boundary: a kernel that fails to compile or run is a row, not a lost benchmark
        return {"name": name, "path": str(path), "ok": False, "check": f"{type(exc).__name__}: {exc}"[:300],
                "outputs": None}
    entry = {"name": name, "path": str(path), "ok": ok, "check": note, "outputs": outputs}
    if ok:
        entry["time"] = _time(model, inputs, reps_ms)
    return entry


def bench_shape(task, shape: str, kernels: dict[str, Path], *, bandwidth: float, reps_ms: int,
                compile_: bool) -> dict:
    """Returns one row: every kernel's check and timing, the baselines, the floor and the dispatch rule's choice."""
    inputs = move_inputs(task.make_inputs(shape, 0), DEVICE)
    entries = [_kernel_entry(task, shape, name, path, inputs, reps_ms) for name, path in kernels.items()]
    outputs = next((e["outputs"] for e in entries if e["outputs"] is not None), None)
    if outputs is None:  # no kernel ran: the reference's outputs size the floor
        outputs = run_reference(task, shape, inputs, device=DEVICE)
    row = {"task": task.name, "shape": shape, **_floor(task, shape, inputs, outputs, bandwidth),
           "kernels": [{k: v for k, v in e.items() if k != "outputs"} for e in entries], "times": {}}
    baselines = {"eager": build_model(task, shape, 0, DEVICE)}
    if task.name == "conv1d":
        baselines["conv2d_channels_last"] = _conv2d_channels_last
    if compile_:
        compiled, info = compile_reference(task, shape, inputs)
        row.update(info)
        if compiled is not None:
            baselines["torch_compile"] = compiled
    for name, fn in baselines.items():
        row["times"][name] = _time(fn, inputs, reps_ms)
    timed = [e for e in row["kernels"] if "time" in e]
    best = min(timed, key=lambda e: e["time"]["median_ms"]) if timed else None
    row["best"] = best["name"] if best else None
    row["times"]["kernel"] = best["time"] if best else None
    kernel_ms = best["time"]["median_ms"] if best else None
    base_ms = row["times"].get("torch_compile", row["times"]["eager"])["median_ms"]
    row["baseline"] = "torch_compile" if "torch_compile" in row["times"] else "eager"
    row["pct_of_floor"] = 100 * row["floor_ms"] / kernel_ms if kernel_ms else None
    row["speedup_vs_baseline"] = base_ms / kernel_ms if kernel_ms else None
    row["dispatch_rule"] = (f"kernel {best['name']}" if kernel_ms and kernel_ms < base_ms
                            else "PyTorch fallback (" + ("no correct kernel" if not best else "slower") + ")")
    return row


def _fmt(t: dict | None) -> str:
    return f"{t['median_ms']:.4f} ({t['p20_ms']:.4f}-{t['p80_ms']:.4f})" if t else "-"


def print_table(rows: list[dict], meta: dict) -> None:
    """Prints the markdown table of all rows (median ms, p20-p80 in parentheses)."""
    print(f"device: {meta['device']}  driver {meta['driver']}  torch {meta['torch']}  triton {meta['triton']}  "
          f"copy bandwidth {meta['bandwidth_tb_s']:.2f} TB/s  {meta['date']}")
    print("| task | shape | best kernel | kernel ms | eager ms | torch.compile ms | conv2d-cl ms | vs baseline "
          "| floor ms | % of floor | dispatch (rule / run) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t = r["times"]
        speed = f"{r['speedup_vs_baseline']:.2f}x {r['baseline']}" if r.get("speedup_vs_baseline") else "-"
        pct = f"{r['pct_of_floor']:.0f}%" if r.get("pct_of_floor") else "-"
        run = r.get("run_choice", {}).get("why", "-")
        compiled = _fmt(t.get("torch_compile")) + (f" ({r['compile_error']})" if "compile_error" in r else "")
        print(f"| {r['task']} | {r['shape']} | {r['best'] or 'none correct'} | {_fmt(t.get('kernel'))} |"
              f" {_fmt(t.get('eager'))} | {compiled} | {_fmt(t.get('conv2d_channels_last'))} | {speed} |"
              f" {r['floor_ms']:.4f} | {pct} | {r['dispatch_rule']} / {run} |")
    print("\n| task | shape | kernel | ms (p20-p80) | host us/call | check |\n|---|---|---|---|---|---|")
    for r in rows:
        for e in r["kernels"]:
            host = (e.get("time") or {}).get("host_us")
            print(f"| {r['task']} | {r['shape']} | {e['name']} | {_fmt(e.get('time'))} |"
                  f" {f'{host:.1f}' if host is not None else '-'} | {'ok' if e['ok'] else 'FAIL'}: {e['check']} |")
        hosts = {k: v.get("host_us") for k, v in r["times"].items() if v and k != "kernel"}
        print(f"| {r['task']} | {r['shape']} | baselines | - | "
              + ", ".join(f"{k} {v:.1f}" for k, v in hosts.items() if v is not None) + " | |")


def _plan(args) -> dict[tuple[str, str], tuple[dict[str, Path], dict | None]]:
    """Returns, per (task, shape) to measure, the kernel files by name and the run's export choice (or None)."""
    plan: dict[tuple[str, str], tuple[dict[str, Path], dict | None]] = {}
    for run in args.run:
        task, kernels, choices = _run_kernels(Path(run))
        for shape, path in kernels.items():
            plan.setdefault((task, shape), ({}, None))[0][f"{Path(run).name}:{path.stem}"] = path
            plan[(task, shape)] = (plan[(task, shape)][0], choices[shape])
    for spec in args.kernel:
        task, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"--kernel wants TASK=PATH, got {spec!r}")
        for shape in load_task(task).shapes(ShapeSet.PRODUCTION):
            plan.setdefault((task, shape), ({}, None))[0][Path(path).stem] = Path(path)
    wanted = set(args.shapes.split(",")) if args.shapes else None
    return {key: value for key, value in plan.items() if wanted is None or key[1] in wanted}


def compile_only(plan: dict) -> int:
    """Compiles each planned shape's torch.compile baseline (as bench_shape does, same inputs); returns 1 if any failed."""
    failed, start = 0, time.perf_counter()
    for task_name, shape in plan:
        task = load_task(task_name)
        _, info = compile_reference(task, shape, move_inputs(task.make_inputs(shape, 0), DEVICE))
        failed += "compile_error" in info
        print(f"[{time.perf_counter() - start:6.1f}s] compiled {task_name} {shape}: {info}", flush=True)
        torch.cuda.empty_cache()
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[], help="a finished search run directory (repeatable)")
    parser.add_argument("--kernel", action="append", default=[], help="TASK=PATH of a kernel file (repeatable)")
    parser.add_argument("--shapes", default="", help="comma-separated shape names to keep (default: all production)")
    parser.add_argument("--reps-ms", type=int, default=200, help="do_bench time budget per contender, ms")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile baseline")
    parser.add_argument("--compile-shapes", default="", help="only these shapes get the torch.compile baseline")
    parser.add_argument("--compile-tasks", default="", help="only these tasks (comma-separated) get torch.compile")
    parser.add_argument("--json", default="", help="where to write the rows (default: $OUT/ops.json)")
    parser.add_argument("--compile-only", action="store_true",
                        help="only compile the torch.compile baselines (fills the Inductor cache); time nothing")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_ops needs a CUDA device")
        return 2
    plan = _plan(args)
    if not plan:
        print("nothing to measure: give --run RUN_DIR or --kernel TASK=PATH (and matching --shapes)")
        return 2
    if args.compile_only:
        return compile_only(plan)
    bandwidth = _bandwidth()
    meta = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
            "driver": _driver(),
            "bandwidth_tb_s": bandwidth / 1e12, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    out = args.json or (str(Path(os.environ["OUT"], "ops.json")) if os.environ.get("OUT") else "")
    rows, start = [], time.perf_counter()
    for (task_name, shape), (kernels, choice) in plan.items():
        row = bench_shape(load_task(task_name), shape, kernels, bandwidth=bandwidth, reps_ms=args.reps_ms,
                          compile_=not args.no_compile and (not args.compile_shapes
                                                            or shape in args.compile_shapes.split(","))
                          and (not args.compile_tasks or task_name in args.compile_tasks.split(",")))
        if choice is not None:
            row["run_choice"] = choice
        rows.append(row)
        print(f"[{time.perf_counter() - start:6.1f}s] {task_name} {shape}: best {row['best']}"
              f" {_fmt(row['times']['kernel'])}, {row['dispatch_rule']}", flush=True)
        if out:  # after every row, so a run cut short still leaves what it measured
            Path(out).write_text(json.dumps({"rows": rows, **meta, "wall_s": time.perf_counter() - start}, indent=1))
        torch.cuda.empty_cache()
    print_table(rows, meta)
    return 0 if all(e["ok"] for r in rows for e in r["kernels"]) else 1


if __name__ == "__main__":
    sys.exit(main())
