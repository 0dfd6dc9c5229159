"""One evaluation inside a worker: build inputs, import the candidate under guard, run, check, export.

The worker never holds a reference output: it hands the candidate's outputs to the referee (another
process) as data. Every stretch of candidate code runs with the audit guard armed and is followed by
the checks that need this process's memory (aliasing, unchanged inputs, provenance, launches).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.eval import correctness as cc
from kernelevolve.eval.cases import INIT_SEED, ShapeCases, build_job_cases, tensor_bytes
from kernelevolve.eval.correctness import CheckFailed
from kernelevolve.eval.phases import PhaseClock
from kernelevolve.eval.protocols import Platform
from kernelevolve.eval.wire import exchange
from kernelevolve.eval.wire.messages import EvalJob
from kernelevolve.eval.worker.guard import procstate
from kernelevolve.eval.worker.guard.integrity import (
    AuditGuard,
    LaunchCounter,
    TaintSnapshot,
    python_thread_count,
)
from kernelevolve.tasks.spec import Task

logger = logging.getLogger(__name__)

_perf_counter = time.perf_counter


@dataclasses.dataclass(kw_only=True)
class WorkerContext:
    """What a worker keeps between jobs (built once, before any candidate)."""

    task: Task
    platform: Platform
    guard: AuditGuard
    snapshot: TaintSnapshot
    counter: LaunchCounter
    tmpdir: Path
    compiled: dict[str, Any] = dataclasses.field(default_factory=dict)  # shape -> torch.compile'd Model
    peaks: dict[str, float | None] = dataclasses.field(default_factory=dict)  # measured device peaks, per worker
    jobs_done: int = 0
    initial_state: procstate.ProcessState | None = None  # after start-up: restored after every job
    dirty: set[str] = dataclasses.field(default_factory=set)  # global settings a candidate changed: recycle
    file_exchange: bool = True  # every output as a sealed memfd; False = device memory handles for device tensors
    exported_fds: list[int] = dataclasses.field(default_factory=list)  # memfds held until the next job
    phases: PhaseClock = dataclasses.field(default_factory=PhaseClock)  # this job's phase seconds, device time
    baseline_times: dict[str, Any] = dataclasses.field(default_factory=dict)  # shape -> measure.BaselineRecord
    eager: dict[str, Any] = dataclasses.field(default_factory=dict)  # shape -> the eager reference (compile runs)
    eager_times: dict[str, float] = dataclasses.field(default_factory=dict)  # shape -> its median ms in this worker


def trim(text: str, limit: int) -> str:
    """Returns the last `limit` characters of text (tracebacks end with the useful part)."""
    return text if len(text) <= limit else "..." + text[-limit:]


@contextlib.contextmanager
def candidate_code(ctx: WorkerContext, phase: str, *, watch_state: bool = True) -> Iterator[None]:
    """Runs a stretch of candidate code with the guard armed, then reports violations and new threads.

    watch_state=False (timed calls: no host work inside the timed region) leaves the process-state
    check to the caller, once around the whole timing loop (`check_process_state`).
    """
    threads = python_thread_count()
    before = procstate.capture() if watch_state else None
    ctx.guard.armed = True
    try:
        yield
    except BaseException as exc:  # noqa: BLE001 - anything the candidate raises (SystemExit too) is a verdict
        ctx.guard.armed = False
        _raise_violations(ctx, phase, before)
        raise _classify(exc, phase) from None
    finally:
        ctx.guard.armed = False
    _raise_violations(ctx, phase, before)
    if python_thread_count() > threads:
        raise CheckFailed(EvalStatus.INTEGRITY_VIOLATION, f"candidate started a thread during {phase}")


def check_process_state(ctx: WorkerContext, phase: str, before: procstate.ProcessState) -> None:
    """Raises CheckFailed when candidate code changed signals, timers or hooks (undone first)."""
    _raise_violations(ctx, phase, before)


def _raise_violations(ctx: WorkerContext, phase: str, before: procstate.ProcessState | None) -> None:
    found = ctx.guard.take_violations()
    if before is not None:
        found += procstate.restore_hostile(before)  # timers cancelled before they fire
        ctx.dirty.update(procstate.benign_changes(before))
    if found:
        raise CheckFailed(EvalStatus.INTEGRITY_VIOLATION, f"candidate attempted {', '.join(found)} during {phase}")


def _classify(exc: BaseException, phase: str) -> CheckFailed:
    if isinstance(exc, CheckFailed):
        return exc
    tb = "".join(traceback.format_exception(exc))
    if isinstance(exc, SystemExit):
        failure = CheckFailed(EvalStatus.CRASHED, f"candidate called sys.exit({exc.code!r}) during {phase}")
    elif isinstance(exc, KeyboardInterrupt):
        failure = CheckFailed(EvalStatus.CRASHED, f"candidate raised KeyboardInterrupt during {phase}")
    elif phase == "import" or _is_triton_compile_error(exc):
        failure = CheckFailed(EvalStatus.COMPILE_ERROR, f"{phase}: {type(exc).__name__}: {first_line(exc)}")
    elif isinstance(exc, MemoryError | torch.OutOfMemoryError):
        where = "the device" if isinstance(exc, torch.OutOfMemoryError) else "the host"
        failure = CheckFailed(EvalStatus.RUNTIME_ERROR, f"{phase}: out of memory on {where} ({type(exc).__name__})")
    else:
        failure = CheckFailed(EvalStatus.RUNTIME_ERROR, f"{phase}: {type(exc).__name__}: {first_line(exc)}")
    failure.__traceback_text__ = tb  # type: ignore[attr-defined]
    return failure


def first_line(exc: BaseException) -> str:
    """The first line of what an exception says, at most 300 characters ("" when it says nothing)."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else "")[:300]


def _is_triton_compile_error(exc: BaseException) -> bool:
    """True for a kernel Triton could not build for this device: a compile error, or a kernel needing more shared
    memory or registers than the device has (raised when it is loaded, before anything runs: the worker's device
    state is untouched, so the worker is kept, unlike after a runtime error)."""
    from triton.compiler.errors import CompilationError
    from triton.runtime.errors import OutOfResources

    return isinstance(exc, CompilationError | OutOfResources)


def import_candidate(ctx: WorkerContext, source: str, number: int) -> type[torch.nn.Module]:
    """Returns the candidate's ModelNew (or TritonModel) class, imported from a file in the private dir."""
    path = ctx.tmpdir / f"candidate_{number}.py"
    path.write_text(source)
    ctx.guard.candidate_files.add(str(path))
    name = f"kernelevolve_candidate_{number}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py path always has a loader
    module = importlib.util.module_from_spec(spec)
    with candidate_code(ctx, "import"):
        sys.modules[name] = module
        spec.loader.exec_module(module)
    cls = getattr(module, "ModelNew", None) or getattr(module, "TritonModel", None)
    if not isinstance(cls, type) or not issubclass(cls, torch.nn.Module):
        raise CheckFailed(EvalStatus.COMPILE_ERROR, "candidate defines no `class ModelNew(nn.Module)`")
    return cls


def build_candidate(ctx: WorkerContext, cls: type[torch.nn.Module], sc: ShapeCases) -> torch.nn.Module:
    """Returns ModelNew built like the reference (same seed, same constructor args) on the device."""
    with candidate_code(ctx, f"construction (shape {sc.shape})"):
        torch.manual_seed(INIT_SEED)
        model = cls(*sc.init_inputs).to(ctx.platform.device())
    return model


def call_candidate(ctx: WorkerContext, model: torch.nn.Module, slots: list[Any], phase: str) -> Any:
    """Returns model(*slots), run under guard with launches counted; raises CheckFailed on any failure."""
    ctx.counter.reset()
    ctx.counter.active = True
    ctx.counter.on_first = ctx.phases.open_span  # the device span starts at the first launch, after JIT compiles
    ctx.counter.around_jit = (ctx.phases.pause_span, ctx.phases.resume_span)  # and skips later ones
    try:
        with candidate_code(ctx, phase), torch.no_grad():
            out = model(*slots)
            ctx.phases.close_span()
            ctx.platform.synchronize()
    finally:
        ctx.counter.active = False
        ctx.counter.on_first = None
        ctx.counter.around_jit = None
        ctx.phases.close_span()
    if ctx.counter.count == 0:
        raise CheckFailed(EvalStatus.INTEGRITY_VIOLATION, f"{phase}: no Triton kernel was launched")
    if ctx.counter.foreign_streams:
        raise CheckFailed(EvalStatus.INTEGRITY_VIOLATION,
                          f"{phase}: {ctx.counter.foreign_streams} Triton launch(es) on a side stream")
    return out


@contextlib.contextmanager
def poisoned_allocations() -> Iterator[None]:
    """Makes torch.empty & co. return NaN-filled (float) or max-value (int) memory inside the block."""
    import torch.utils.deterministic as det

    previous = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    det.fill_uninitialized_memory = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


def check_shape(ctx: WorkerContext, model: torch.nn.Module, sc: ShapeCases, first: int,
                exports: list[dict[str, Any]], slots: list[Any] | None = None,
                skip_below: int = 0, after_case: Callable[[int, int], None] | None = None) -> tuple[list[Any], int]:
    """Runs every case of a shape through the same input slots (refilled in place); returns slots, launches.

    Each case's outputs go to `exports` as manifest entries numbered from `first` (the referee compares
    them: the worker never sees a reference). Checks that need the worker's memory run here. `slots`
    continues with the slots of an earlier round of the same shape, and cases numbered below `skip_below`
    were run and judged in that round (the early-rejection case). after_case(number, output bytes) runs
    after each case's outputs were exported (the judge hands a batch to the referee there when memory asks).
    """
    device = ctx.platform.device()
    if slots is None:
        slots = [x.clone() if isinstance(x, torch.Tensor) else x for x in sc.cases[0].inputs]
    launches = 0
    for number, case in enumerate(sc.cases, start=first):
        if number < skip_below:
            continue
        refill(slots, case.inputs)  # same memory, new values: results cached by pointer go stale
        ctx.platform.poison_allocator()
        with poisoned_allocations():
            out = call_candidate(ctx, model, slots, f"forward ({case.id})")
        launches = max(launches, ctx.counter.count)
        outputs = cc.as_outputs(out, case.id)
        check_device(outputs, device, case.id)
        cc.check_no_alias(outputs, slots, case.id)
        cc.check_inputs_unchanged(slots, case.inputs, case.id)
        check_provenance(ctx, outputs, case.id)
        with ctx.phases.phase("export"):
            exports.extend(export_outputs(ctx, outputs, number))
        if after_case is not None:
            after_case(number, tensor_bytes(outputs))
        del out, outputs
    refill(slots, sc.cases[0].inputs)
    return slots, launches


def refill(slots: list[Any], values: list[Any]) -> None:
    """Copies values into the tensor slots in place (same memory, new values)."""
    for slot, value in zip(slots, values, strict=True):
        if isinstance(slot, torch.Tensor):
            slot.copy_(value)


def check_device(outputs: tuple[torch.Tensor, ...], device: torch.device, case: cc.CaseId) -> None:
    """Raises CheckFailed when an output is not a dense tensor of a handed-over dtype on the evaluation device.

    Runs before any harness check touches the output's storage: a sparse, mkldnn, nested or quantized
    output would otherwise raise inside the harness (a harness failure, not the candidate's verdict).
    """
    for index, out in enumerate(outputs):
        if out.device.type != device.type:
            raise CheckFailed(EvalStatus.INCORRECT, f"{case}: output {index} is on {out.device}, expected {device.type}")
        if out.layout is not torch.strided or out.is_nested or out.dtype not in exchange.DTYPES.values():
            raise CheckFailed(EvalStatus.INCORRECT, f"{case}: output {index} is a {out.layout} {out.dtype} tensor, "
                                                    "expected a dense (strided) one of the reference's dtype")


def export_outputs(ctx: WorkerContext, outputs: tuple[torch.Tensor, ...], number: int) -> list[dict[str, Any]]:
    """Returns the manifest entries of one case's outputs (device memory handles, or sealed memfds kept open
    in ctx.exported_fds until the next job)."""
    entries = [exchange.export(o, case=number, index=i, as_file=ctx.file_exchange) for i, o in enumerate(outputs)]
    ctx.exported_fds.extend(e["keep_fd"] for e in entries if "keep_fd" in e)
    return entries


def check_provenance(ctx: WorkerContext, outputs: tuple[torch.Tensor, ...], case: cc.CaseId) -> None:
    """Raises CheckFailed when no output's memory was handed to any Triton kernel of the call.

    One output is enough (a torch epilogue such as summing per-block partials is fine); none means
    the Triton launches were decoration around a PyTorch computation.
    """
    written = [o for o in outputs if o.numel() == 0 or ctx.counter.wrote(cc.span(o))]
    if not written:
        raise CheckFailed(EvalStatus.INTEGRITY_VIOLATION,
                          f"{case}: no output was written by this call's Triton kernels (a cached result, or a "
                          "PyTorch fallback in disguise)")


def check_taint(ctx: WorkerContext, phase: str) -> None:
    """Raises CheckFailed when a watched torch/triton/timer/harness callable was replaced."""
    changed = ctx.snapshot.changed()
    if changed:
        raise CheckFailed(EvalStatus.INTEGRITY_VIOLATION,
                          f"monkeypatching detected after {phase}: {', '.join(changed[:6])}")


def failure_result(failure: CheckFailed, platform: str, error_chars: int) -> EvalResult:
    """Returns the EvalResult for a failed check."""
    tb = getattr(failure, "__traceback_text__", None)
    return EvalResult(status=failure.status, reason=failure.reason, error=trim(tb, error_chars) if tb else None,
                      mismatch=failure.mismatch, platform=platform)


def build_all_cases(ctx: WorkerContext, job: EvalJob, numbers: range | None = None) -> list[ShapeCases]:
    """Returns the inputs of every shape in the job (timed SHAPES first, then held-out ones), no references;
    `numbers` builds only those job-wide case numbers (range(0, 1): the first case alone).

    The referee builds the same cases in the same order from the same seeds, with references.
    """
    with ctx.phases.phase("inputs"):
        return build_job_cases(ctx.task, shapes=job.shapes, heldout=job.heldout, seeds=job.seeds,
                               extra_seed=job.extra_seed if job.extra_distribution else None,
                               device=ctx.platform.device(), reference=False, numbers=numbers)
