"""Runs seed kernels against their task's reference under Triton's CPU interpreter; prints JSON results.

    TRITON_INTERPRET=1 python _seed_check.py '[{"task": "mbdt", "overrides": {"BLOCK_B": 16}, "seeds": [0, 1]}]'

A separate process because TRITON_INTERPRET must be set before triton is first imported, and any other test
in the session may have imported it already. One result per (job, shape, seed, output).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

os.environ["TRITON_INTERPRET"] = "1"  # before anything imports triton

import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from kernelevolve.tasks import ShapeSet, load_task  # noqa: E402
from kernelevolve.tasks.compare import compare  # noqa: E402
from kernelevolve.tasks.reference import as_outputs, run_reference  # noqa: E402


def _load_seed(name: str, overrides: dict, file: str = "seed.py"):
    path = REPO / "knowledge_base" / "samples" / name / file
    spec = importlib.util.spec_from_file_location(f"seed_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for key, value in overrides.items():
        setattr(module, key, value)
    return module


GUARD = 4096  # NaN elements on each side of a guarded input


def _guarded(t):
    """Returns a copy of a float tensor as a contiguous view into a NaN-padded buffer: the interpreter does no
    bounds checking, so an unmasked read just past either end of an input shows up as NaN in the output."""
    if not (isinstance(t, torch.Tensor) and t.is_floating_point()):
        return t
    buf = torch.full((t.numel() + 2 * GUARD,), float("nan"), dtype=t.dtype)
    buf[GUARD:GUARD + t.numel()] = t.reshape(-1)
    return buf[GUARD:GUARD + t.numel()].view(t.shape)


def _check(task, module, shape: str, seed: int, guard: bool = False) -> list[dict]:
    inputs = task.make_inputs(shape, seed)
    if guard:
        inputs = [_guarded(t) for t in inputs]
    pristine = [t.clone() if isinstance(t, torch.Tensor) else t for t in inputs]
    outputs = as_outputs(module.ModelNew(*task.make_init_inputs(shape))(*inputs), task)
    native = run_reference(task, shape, pristine)
    expected = run_reference(task, shape, pristine, upcast=task.upcast_reference)
    unchanged = all(not isinstance(a, torch.Tensor) or torch.equal(a, b) for a, b in zip(pristine, inputs, strict=True))
    results = [{"shape": shape, "seed": seed, "output": -1, "ok": len(outputs) == len(expected) and unchanged,
                "reason": f"{len(outputs)} outputs (want {len(expected)}), inputs unchanged: {unchanged}"}]
    for i, (out, nat, ref) in enumerate(zip(outputs, native, expected, strict=False)):
        result = compare(out, ref, task.tolerance(out, i, shape_name=shape), check_dtype=False)
        ok = result.ok and out.dtype == nat.dtype
        results.append({"shape": shape, "seed": seed, "output": i, "ok": ok,
                        "reason": f"{result.reason} dtype {out.dtype} (want {nat.dtype})"})
    return results


def run_job(job: dict) -> list[dict]:
    """Returns the results of one job: a task, a seed file (default seed.py), tunable overrides, extra small
    shapes (name -> parameters, added to the task's SMALL_SHAPES for this job), shapes (default: all small
    ones), seeds, and whether float inputs sit in NaN guards."""
    task = load_task(job["task"])
    small = task.module.SMALL_SHAPES
    task.module.SMALL_SHAPES = {**small, **job.get("extra_shapes", {})}
    try:
        module = _load_seed(job["task"], job.get("overrides", {}), job.get("file", "seed.py"))
        shapes = job.get("shapes") or [s for h in (False, True) for s in task.shapes(ShapeSet.SMALL, heldout=h)]
        return [r for shape in shapes for seed in job.get("seeds", [0])
                for r in _check(task, module, shape, seed, job.get("guard", False))]
    finally:
        task.module.SMALL_SHAPES = small


if __name__ == "__main__":
    print(json.dumps([run_job(job) for job in json.loads(sys.argv[1])]))
