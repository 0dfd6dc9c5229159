"""Task validation: builds inputs and runs the reference for every shape, turning each problem into a TaskError.

Checked per shape: inputs fit in memory (estimated before building when possible), make_inputs/get_inputs
runs and returns tensors or Python scalars, the same seed gives the same inputs, the reference runs and
returns tensors, the reference is deterministic for identical seeds, and for UPCAST_REFERENCE tasks the
native-precision reference meets the task's own tolerance against the fp32 one (docs/TASKS.md §0: a tolerance
only the fp32 reference can meet would fail every honest low-precision kernel).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import torch

from kernelevolve.core.errors import TaskError
from kernelevolve.tasks.compare import compare
from kernelevolve.tasks.reference import run_reference
from kernelevolve.tasks.spec import ShapeSet, Task
from kernelevolve.tasks.summary import TensorSummary, summarize

logger = logging.getLogger(__name__)

FOOTPRINT_FACTOR = 4  # inputs + outputs + reference temporaries, as a multiple of the input bytes
MEMORY_SHARE = 0.5  # use at most this share of the free memory ("fits comfortably")
SCALARS = (torch.Tensor, int, float, bool)  # what an input may be


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShapeReport:
    """What checking one shape found; `error` is empty when the shape is fine, `skipped` says why it was not run."""

    name: str
    family: str
    heldout: bool
    params: dict[str, Any]
    inputs: list[TensorSummary] = dataclasses.field(default_factory=list)
    outputs: list[TensorSummary] = dataclasses.field(default_factory=list)
    upcast: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    skipped: str = ""
    error: str = ""


def shapes_for(task: Task, platform: str) -> list[tuple[str, ShapeSet, bool]]:
    """Returns (name, family, heldout) of every shape a platform checks: small on cpu, production on cuda."""
    family = ShapeSet.SMALL if platform == "cpu" else ShapeSet.PRODUCTION
    return [(name, family, heldout) for heldout in (False, True) for name in task.shapes(family, heldout=heldout)]


def estimate_input_bytes(task: Task, shape_name: str) -> int | None:
    """Returns the input bytes of a shape from a dry run on fake tensors, or None when that cannot work.

    Generators with data-dependent sizes (unique, .tolist()) cannot run on fake tensors; their inputs are
    measured after they are built instead.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    try:
        with FakeTensorMode():
            inputs = task.make_inputs(shape_name, 0)
    except Exception:  # user code under fake tensors: any failure only means "unknown"
        logger.debug("no dry-run size estimate task=%s shape=%s", task.name, shape_name, exc_info=True)
        return None
    return _nbytes(inputs)


def free_memory_bytes(device: str) -> int:
    """Returns the free memory of the device (cuda) or the host's available memory (cpu)."""
    if device == "cuda":
        return int(torch.cuda.mem_get_info()[0])
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 8 << 30  # no /proc (macOS): assume a small laptop


def build_inputs(task: Task, shape_name: str, seed: int, device: str = "cpu") -> list[Any]:
    """Returns make_inputs(shape, seed) checked to be tensors or Python scalars; failures are TaskError.

    On a device the inputs are built there as the judge builds them (a full-size KernelBench input of
    gigabytes takes milliseconds on the GPU and tens of seconds from a host RNG)."""
    where = f"{task.make_input_signature().split('(')[0]} for shape {shape_name!r} (seed {seed})"
    try:
        inputs = task.make_inputs(shape_name, seed, device=None if device == "cpu" else device)
    except (MemoryError, torch.OutOfMemoryError) as exc:
        raise TaskError(f"{task.path}: {where} ran out of memory ({exc}); shrink the shape or move it to "
                        "HELDOUT_SHAPES / a larger machine.") from exc
    except TaskError:
        raise
    except Exception as exc:  # user code: any failure is the task's
        raise TaskError(f"{task.path}: {where} raised {type(exc).__name__}: {exc}; fix the generator so it "
                        "builds inputs for every shape.") from exc
    bad = [f"#{i} {type(v).__name__}" for i, v in enumerate(inputs) if not isinstance(v, SCALARS)]
    if bad:
        raise TaskError(f"{task.path}: {where} returned {', '.join(bad)}; inputs must be torch tensors or Python "
                        "int/float/bool (convert numpy arrays with torch.from_numpy).")
    return inputs


def check_shape(task: Task, shape_name: str, family: ShapeSet, heldout: bool, device: str, *,
                dry_run: bool = True) -> ShapeReport:
    """Returns the report for one shape; every problem the task can fix is in `error`, never raised.

    `dry_run` first sizes the inputs on fake tensors, so a shape too large for the device is skipped before
    it is built; it costs seconds the first time in a process (it imports torch._dynamo).
    """
    report = ShapeReport(name=shape_name, family=str(family), heldout=heldout, params=dict(task.shape(shape_name)))
    try:
        return _check_shape(task, report, device, dry_run)
    except TaskError as exc:
        return dataclasses.replace(report, error=str(exc))


def check_task_for_launch(task: Task, device: str = "cpu") -> None:
    """Raises TaskError when the task fails `task check` on its smallest interpreter-sized shape, on `device`.

    One small shape keeps the check cheap before a launch whatever the task's production sizes, and catches
    what breaks every shape (no input generator, a reference that raises, a nondeterministic one) before any
    run directory exists; `kernelevolve task check FILE --platform cuda` checks every shape. A plain KernelBench
    file has one shape, its full size, so a launch on a GPU checks there ("cuda"): three full-size reference runs
    of a level-2/3 model took 6-158 s on a 2-core host.
    """
    shapes = task.shapes(ShapeSet.SMALL)
    name = min(shapes, key=lambda n: _size_hint(shapes[n]))
    report = check_shape(task, name, ShapeSet.SMALL, False, device, dry_run=False)  # small: sized once built
    if device == "cuda":
        torch.cuda.empty_cache()  # the launching process keeps no device memory the judge could use
    if report.error:
        raise TaskError(f"{report.error} (`kernelevolve task check {task.path}` runs every check on every shape)")
    if report.skipped:
        logger.info("pre-launch task check of task=%s shape=%s skipped: %s", task.name, name, report.skipped)


def _size_hint(params: dict[str, Any]) -> int:
    """Returns the product of a shape's integer parameters: a proxy for its size that runs no task code
    (a fake-tensor dry run costs seconds the first time, more than the check itself)."""
    return math.prod(v for v in params.values() if isinstance(v, int) and not isinstance(v, bool))


def _check_shape(task: Task, report: ShapeReport, device: str, dry_run: bool) -> ShapeReport:
    budget = int(free_memory_bytes(device) * MEMORY_SHARE)
    estimate = estimate_input_bytes(task, report.name) if dry_run else None
    too_big = _too_big(task, report.name, estimate, budget, device)
    if too_big:
        return dataclasses.replace(report, skipped=too_big)
    inputs = build_inputs(task, report.name, 0, device)
    too_big = _too_big(task, report.name, _nbytes(inputs), budget, device)
    if too_big:
        return dataclasses.replace(report, skipped=too_big)
    _check_same_inputs(task, report.name, inputs, build_inputs(task, report.name, 0, device))
    other = build_inputs(task, report.name, 1, device)
    _check_same_sizes(task, report.name, inputs, other)
    notes = [] if _differs(inputs, other) else [
        "seeds 0 and 1 give identical inputs: the judge cannot vary inputs between calls"]
    outputs = run_reference(task, report.name, inputs, seed=0, device=device, forward_seed=1)
    again = run_reference(task, report.name, inputs, seed=0, device=device, forward_seed=2)
    notes += _check_deterministic(task, report.name, outputs, again)
    _check_same_sizes(task, report.name, list(outputs), list(run_reference(task, report.name, other, device=device)),
                      what="outputs")
    notes += [f"output {i} is constant: a kernel writing a constant would pass it"
              for i, out in enumerate(outputs) if out.numel() > 1 and _is_constant(out)]
    upcast = _upcast_checks(task, report.name, inputs, outputs, device) if task.upcast_reference else []
    failed = [u for u in upcast if not u["ok"]]
    error = ""
    if failed:
        problem = (f"the native-precision reference fails the task's own tolerance against the fp32 reference "
                   f"(output {failed[0]['output']}: {failed[0]['reason']})")
        if report.heldout:  # reported, not optimized on: a warning, since an fp32-accumulating kernel may still pass
            notes.append(f"{problem}; the tolerance may be tighter than the PyTorch baseline can meet")
        else:
            error = (f"{task.path}: shape {report.name!r}: {problem}; loosen ATOL/RTOL (or TOLERANCES for this "
                     "dtype) so an honest low-precision kernel can pass.")
    return dataclasses.replace(report, inputs=[summarize(v) for v in inputs], outputs=[summarize(o) for o in outputs],
                               upcast=upcast, notes=notes, error=error)


def _too_big(task: Task, shape_name: str, nbytes: int | None, budget: int, device: str) -> str:
    """Returns "" when the shape fits; a skip reason on cpu; raises TaskError on a real device."""
    if nbytes is None or nbytes * FOOTPRINT_FACTOR <= budget:
        return ""
    need, have = nbytes * FOOTPRINT_FACTOR / 2**30, budget / 2**30
    message = (f"inputs of {nbytes / 2**30:.2f} GiB need ~{need:.2f} GiB with outputs and temporaries, over the "
               f"{have:.2f} GiB available on {device}")
    if device == "cpu":
        return f"skipped on cpu: {message}"
    raise TaskError(f"{task.path}: shape {shape_name!r}: {message}; shrink the shape or move it out of the shapes "
                    "this device runs.")


def _check_same_inputs(task: Task, shape_name: str, first: list[Any], second: list[Any]) -> None:
    if len(first) != len(second) or _differs(first, second):
        raise TaskError(f"{task.path}: shape {shape_name!r}: the same seed gave different inputs; draw randomness "
                        "from torch.Generator().manual_seed(seed) inside make_inputs, not from global state.")


def _check_same_sizes(task: Task, shape_name: str, first: list[Any], second: list[Any], what: str = "inputs") -> None:
    """Raises TaskError when two seeds give inputs (or reference outputs) of different count, type, shape or dtype."""
    def layout(values: list[Any]) -> list[Any]:
        return [(tuple(v.shape), v.dtype) if isinstance(v, torch.Tensor) else type(v) for v in values]

    if layout(first) != layout(second):
        raise TaskError(f"{task.path}: shape {shape_name!r}: seeds 0 and 1 give {what} of different sizes "
                        f"({layout(first)} vs {layout(second)}); the judge reuses buffers across seeds, so "
                        "sizes must follow from the shape alone: draw jagged sizes from a fixed generator and let "
                        "the seed permute them and draw the values.")


def _check_deterministic(task: Task, shape_name: str, first: tuple[torch.Tensor, ...],
                         second: tuple[torch.Tensor, ...]) -> list[str]:
    """Raises TaskError when two reference runs on identical inputs disagree beyond the tolerance."""
    notes = []
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        if a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b):
            continue
        result = compare(a, b, task.tolerance(a, i, shape_name=shape_name))
        if not result.ok:
            raise TaskError(f"{task.path}: shape {shape_name!r}: the reference is nondeterministic: two runs with "
                            f"seed 0 on the same inputs differ in output {i} ({result.reason}); remove randomness "
                            "from Model.forward (dropout in train mode, randn, random, time): the kernel must be "
                            "able to reproduce the reference from the inputs alone.")
        notes.append(f"output {i} is not bitwise reproducible (within tolerance)")
    return notes


def _upcast_checks(task: Task, shape_name: str, inputs: list[Any], native: tuple[torch.Tensor, ...],
                   device: str) -> list[dict[str, Any]]:
    """Returns one entry per float output: does the native reference pass the tolerance vs the fp32 one?"""
    fp32 = run_reference(task, shape_name, inputs, seed=0, device=device, upcast=True)
    checks = []
    for i, (out, ref) in enumerate(zip(native, fp32, strict=True)):
        if not out.is_floating_point():
            continue
        tol = task.tolerance(out, i, shape_name=shape_name)
        result = compare(out, ref, tol, check_dtype=False)
        checks.append({"output": i, "ok": result.ok, "reason": result.reason, "max_abs": result.max_abs,
                       "rel_l2": result.rel_l2, "tolerance": dataclasses.asdict(tol)})
    return checks


def _nbytes(values: list[Any]) -> int:
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


def _differs(first: list[Any], second: list[Any]) -> bool:
    for a, b in zip(first, second, strict=True):
        if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
            return True
        if isinstance(a, torch.Tensor):
            if a.shape != b.shape or a.dtype != b.dtype or not torch.equal(a, b):
                return True
        elif a != b:
            return True
    return False


def _is_constant(t: torch.Tensor) -> bool:
    flat = t.reshape(-1)
    return bool((flat == flat[0]).all())
