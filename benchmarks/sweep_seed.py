"""One kernel file under several tunable settings at one production shape: check each, time each (CUDA).

    python3 benchmarks/sweep_seed.py TASK KERNEL.py --shape b2048_fp16 \
        --configs '[{}, {"BLOCK_L": 256, "NUM_WARPS": 8}]'

Each config overrides module-level tunables of a fresh import of KERNEL.py (what the offline operator's
rewrites change in the source), is checked against the fp32 reference under the task's tolerance and timed with
triton.testing.do_bench (median, p20-p80, L2 flushed before each call). A measured sweep of a seed is not a
search result: it says where the search should start, and the search has to reach (and beat) it on its own.
Rows sorted by median go to stdout and $OUT/sweep_<task>_<shape>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ops import DEVICE, _check, _load_module, _time  # noqa: E402

from kernelevolve.tasks import load_task  # noqa: E402
from kernelevolve.tasks.reference import move_inputs  # noqa: E402


def sweep(task_name: str, path: Path, shape: str, configs: list[dict], reps_ms: int) -> list[dict]:
    """Returns one row per config: the overrides, the check and (when correct) the timing."""
    task = load_task(task_name)
    inputs = move_inputs(task.make_inputs(shape, 0), DEVICE)
    rows = []
    for overrides in configs:
        module = _load_module(path)
        for key, value in overrides.items():
            if not hasattr(module, key):
                raise SystemExit(f"{path} has no tunable {key!r} (config {overrides})")
            setattr(module, key, value)
        t0 = time.perf_counter()
        model = module.ModelNew(*task.make_init_inputs(shape)).to(DEVICE)
        try:
            ok, note, _ = _check(task, shape, model, inputs)
        except Exception as exc:  # noqa: BLE001 - boundary: a config that fails to compile or run is a row, not a lost sweep
            ok, note = False, f"{type(exc).__name__}: {exc}"[:300]
        row = {"overrides": overrides, "ok": ok, "check": note, "first_call_s": time.perf_counter() - t0}
        if ok:
            row["time"] = _time(model, inputs, reps_ms)
        rows.append(row)
        print(f"{overrides}: {note} {row.get('time', {}).get('median_ms', float('nan')):.4f} ms", flush=True)
    return sorted(rows, key=lambda r: r["time"]["median_ms"] if "time" in r else float("inf"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("kernel", type=Path)
    parser.add_argument("--shape", required=True)
    parser.add_argument("--configs", default="[{}]", help="JSON list of {tunable: value} overrides")
    parser.add_argument("--reps-ms", type=int, default=100)
    args = parser.parse_args()
    rows = sweep(args.task, args.kernel, args.shape, json.loads(args.configs), args.reps_ms)
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  triton {triton.__version__}")
    print("| overrides | median ms | p20-p80 ms | check |\n|---|---|---|---|")
    for r in rows:
        t = r.get("time")
        timing = f"{t['median_ms']:.4f} | {t['p20_ms']:.4f}-{t['p80_ms']:.4f}" if t else "- | -"
        print(f"| {r['overrides'] or 'defaults'} | {timing} | {'ok' if r['ok'] else 'FAIL'}: {r['check']} |")
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], f"sweep_{args.task}_{args.shape}.json").write_text(json.dumps(
            {"rows": rows, "kernel": str(args.kernel), "device": torch.cuda.get_device_name(),
             "torch": torch.__version__, "triton": triton.__version__}, indent=1))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
