"""The worker's side of one candidate's evaluation, turned into an EvalResult (never an exception).

The worker runs the candidate and reports; it does not decide correctness. After the correctness
cases it hands every output to the evaluator ("checked"), which has the referee compare them; timing
starts only when the evaluator says so, and each timing round hands over the last timed outputs too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kernelevolve.core.types import EvalResult, EvalStatus, ShapeTiming
from kernelevolve.eval.cases import BUDGET, ShapeCases, build_shape_cases, memory_limit
from kernelevolve.eval.correctness import CheckFailed
from kernelevolve.eval.protocols import Converse
from kernelevolve.eval.wire import exchange
from kernelevolve.eval.wire.ahead import AHEAD_DIR, mark_path
from kernelevolve.eval.wire.messages import EvalJob, Step
from kernelevolve.eval.worker import measure
from kernelevolve.eval.worker.candidate import (
    WorkerContext,
    build_all_cases,
    build_candidate,
    check_shape,
    check_taint,
    export_outputs,
    failure_result,
    first_line,
    import_candidate,
    poisoned_allocations,
)
from kernelevolve.eval.worker.guard import procstate
from kernelevolve.eval.worker.guard.integrity import TaintSnapshot

logger = logging.getLogger(__name__)

_perf_counter = time.perf_counter
AHEAD_POLL_S = 0.05  # how often a starting worker looks for the marks of baselines compiled ahead


def run_job(ctx: WorkerContext, job: EvalJob, converse: Converse) -> tuple[EvalResult, bool]:
    """Returns (verdict, recycle): recycle is True when this worker must not serve another candidate.

    Between phases the worker reports through `converse` and the evaluator (with the referee's
    judgement of the outputs) says whether to go on ("time", "retime", "finish") or stop ("abort").
    """
    start = _perf_counter()
    ctx.jobs_done += 1
    ctx.phases.reset()
    ctx.counter.reset_jit()
    BUDGET.reset(memory_limit(ctx.platform.device(), float(job.case_memory_fraction)))
    _clear_exchange(ctx)
    try:
        result = _judge(ctx, job, converse)
    except CheckFailed as failure:
        result = failure_result(failure, ctx.platform.name, job.error_chars)
    except RuntimeError as error:
        if type(error).__name__ != "AcceleratorError":  # torch's sticky device error; anything else is the harness's
            raise
        result = EvalResult(status=EvalStatus.CRASHED, platform=ctx.platform.name,
                            reason=f"the device faulted after the candidate's kernels ran (raised in the judge's own "
                                   f"work: {type(error).__name__}: {first_line(error)})")
    finally:
        with ctx.phases.phase("cleanup"):
            _forget_candidates()
    late = ctx.guard.take_violations()  # refusals outside the guarded stretches: finalizers, gc callbacks
    late += procstate.restore_hostile(ctx.initial_state) if ctx.initial_state is not None else []
    if late and result.status is not EvalStatus.INTEGRITY_VIOLATION:
        result = EvalResult(status=EvalStatus.INTEGRITY_VIOLATION, platform=ctx.platform.name,
                            reason=f"candidate attempted {', '.join(late)} outside its own calls")
    phases = ctx.phases.report()  # reads the device events: a fault the candidate's kernels left shows here
    if ctx.phases.device_error:
        result = device_fault(result, ctx.phases.device_error)
    recycle = result.status in (EvalStatus.CRASHED, EvalStatus.INTEGRITY_VIOLATION, EvalStatus.TIMEOUT)
    recycle = recycle or (not ctx.platform.interpreter and result.status is EvalStatus.RUNTIME_ERROR)
    if ctx.dirty:
        logger.info("candidate changed %s: recycling the worker", sorted(ctx.dirty))
        recycle = True
    if not recycle and ctx.snapshot.changed():
        recycle = True
    metrics = dict(result.metrics, eval_seconds=_perf_counter() - start, **phases)
    return dataclasses.replace(result, metrics=metrics), recycle


def device_fault(result: EvalResult, error: str) -> EvalResult:
    """The verdict of a job whose device was left in error (CUDA errors are sticky). Only the candidate's kernels
    ran unchecked in this worker, so the fault is the candidate's: a verdict that already failed it with a runtime
    error or crash keeps its more specific reason; any other verdict, an ok one included, becomes a crash. The
    worker is recycled either way (CRASHED and RUNTIME_ERROR both recycle on a device)."""
    if result.status in (EvalStatus.CRASHED, EvalStatus.RUNTIME_ERROR):
        return result
    reason = f"the candidate's kernels left the device in error ({error}); it had been judged {result.status.value}"
    return EvalResult(status=EvalStatus.CRASHED, platform=result.platform, reason=reason, metrics=result.metrics)


def _clear_exchange(ctx: WorkerContext) -> None:
    """Closes the previous job's output memfds (the referee has read them)."""
    while ctx.exported_fds:
        os.close(ctx.exported_fds.pop())


def compile_baseline_of(ctx: Any, shape: str, baseline: str) -> None:
    """Compiles (or loads from the cache) and runs once the baseline of one timed shape, as its timing will."""
    sc = build_shape_cases(ctx.task, shape, timed=True, seeds=[0], extra_seed=None, device=ctx.platform.device(),
                           reference=False)
    measure.bind(measure.baseline_model(ctx, shape, baseline), sc.cases[0].inputs, ctx)


def warm_baselines(ctx: WorkerContext, shapes: list[str], baseline: str, ahead_s: float = 0.0) -> float:
    """Compiles the torch.compile baselines of the timed shapes before any job (slow once, then cached); returns
    the seconds it waited for child processes compiling them ahead (eval/baseline_ahead.py).

    With ahead_s > 0 those children are compiling every shape into this worker's private cache: each shape is
    loaded once its mark appears (in the order they appear), and after ahead_s in all the worker compiles
    whatever is still unmarked itself."""
    waited = 0.0
    if not ctx.platform.interpreter and baseline == "compile":
        marks, pending = Path(AHEAD_DIR).resolve(), list(shapes)
        deadline = time.monotonic() + ahead_s
        while pending:
            ready = next((s for s in pending if not ahead_s or mark_path(marks, s).exists()), None)
            if ready is None and time.monotonic() < deadline:
                began = time.perf_counter()
                time.sleep(AHEAD_POLL_S)
                waited += time.perf_counter() - began
                continue
            shape = ready if ready is not None else pending[0]
            pending.remove(shape)
            compile_baseline_of(ctx, shape, baseline)
    ctx.snapshot = TaintSnapshot()  # compiling imports and registers lazily; no candidate has run yet
    return waited


def _forget_candidates() -> None:
    for name in [n for n in sys.modules if n.startswith("kernelevolve_candidate_")]:
        del sys.modules[name]
    gc.collect()


def _judge(ctx: WorkerContext, job: EvalJob, converse: Converse) -> EvalResult:
    with ctx.phases.phase("setup"):
        baselines = _setup(ctx, job)
    first_case = build_all_cases(ctx, job, numbers=range(0, 1))  # cheap rejection: one case before any other
    with ctx.phases.phase("import"):
        cls = import_candidate(ctx, job.source, ctx.jobs_done)
    check_taint(ctx, "import")
    exports: list[dict[str, Any]] = []
    sc0 = first_case[0]
    with ctx.phases.phase("first_case"):  # Triton compiles (or loads from its cache) on the first launch
        model0 = build_candidate(ctx, cls, sc0)
        slots0, launches = check_shape(ctx, model0, sc0, 0, exports)
    check_taint(ctx, "the first case")
    answer = converse("first", _interim(ctx, {}), exports)
    exports.clear()
    if answer.phase != Step.check:
        return _stopped(ctx)
    shapes = build_all_cases(ctx, job, numbers=range(1, 2**31))
    if shapes and shapes[0].shape == sc0.shape:
        shapes[0].cases.insert(0, sc0.cases[0])  # case 0 is built once
    else:
        shapes.insert(0, sc0)  # the first shape had a single case
    with ctx.phases.phase("check"), _StopCheck.caught() as stopped:
        timed, found, batches = _check_rest(ctx, cls, shapes, (sc0, model0, slots0), exports, converse)
    if stopped:
        return _stopped(ctx)
    launches = max(launches, found)
    check_taint(ctx, "the correctness checks")
    metrics: dict[str, float] = {"triton_launches": float(launches), **ctx.counter.jit_metrics(),
                                 "check_batches": float(batches + 1), "cases_rebuilt": float(BUDGET.rebuilds),
                                 "cases_checked": float(sum(len(sc.cases) for sc in shapes))}
    reason = f"correct on {len(shapes)} shapes x {len(shapes[0].cases) if shapes else 0} input sets"
    answer = converse("checked", _interim(ctx, metrics), exports)
    exports.clear()  # the referee has read them
    timings: list[ShapeTiming] = []
    draws: dict[str, int] = {}  # per shape, the timed calls of this job so far (measure.FreshDraws)
    while answer.phase in (Step.time, Step.retime):
        retime = answer.phase == Step.retime  # times again: its calls get new draws (fresh inputs) as well
        _learn_expected(timed, answer.expected)
        with ctx.phases.phase("retiming" if retime else "timing"):
            this_round = dataclasses.replace(job, profile=job.profile and not timings,
                                             best_ms={} if retime else answer.best_ms)
            found, extra, spot = _time_and_profile(ctx, this_round, timed, baselines, draws)
        check_taint(ctx, "timing")
        metrics.update(extra)
        timings = timings or found
        answer = converse("timed", _interim(ctx, metrics, found), spot)
        spot.clear()
    if answer.phase != Step.finish:
        return _stopped(ctx)
    if ctx.platform.interpreter:
        reason += "; timings are Triton-interpreter wall clock (ranking only)"
    return EvalResult(status=EvalStatus.OK, reason=reason, timings=timings, metrics=metrics,
                      platform=ctx.platform.name)


def _stopped(ctx: WorkerContext) -> EvalResult:
    """Returns the worker's report when the evaluator ended the job (the referee's verdict is the evaluator's)."""
    return EvalResult(status=EvalStatus.OK, reason="stopped by the evaluator", platform=ctx.platform.name)


def _check_rest(ctx: WorkerContext, cls: type, shapes: list[ShapeCases], first_shape: tuple[Any, Any, Any],
                exports: list[dict[str, Any]], converse: Converse) -> tuple[list[tuple[Any, ...]], int, int]:
    """Runs every case after the first; returns (timed shapes as (cases, model, slots, first number), the most
    launches of one call, batches handed over before the last). Raises _StopCheck when
    the evaluator ends the job mid-way."""
    sc0, model0, slots0 = first_shape
    timed, first, launches = [], 0, 0
    batch = _Batches(ctx, converse, exports, total=sum(len(sc.cases) for sc in shapes))
    for sc in shapes:
        reuse = sc.shape == sc0.shape
        model = model0 if reuse else build_candidate(ctx, cls, sc)
        slots, found = check_shape(ctx, model, sc, first, exports, slots0 if reuse else None, skip_below=1,
                                   after_case=batch.after_case)
        if sc.timed:  # a held-out shape's model and slots are not needed again: freed here
            timed.append((sc, model, slots, first))
        first += len(sc.cases)
        launches = max(launches, found)
    return timed, launches, batch.count


class _Batches:
    """Hands the check's outputs to the referee in batches ("checking") when they would not fit in memory at
    once (BUDGET's limit); without a limit, all of them go with the final "checked" report."""

    def __init__(self, ctx: WorkerContext, converse: Converse, exports: list[dict[str, Any]], total: int) -> None:
        self.ctx, self.converse, self.exports = ctx, converse, exports
        self.total = total  # the job's case count: the last case's outputs go with the final report
        self.held = 0  # bytes of exported outputs the referee has not read yet
        self.count = 0  # batches handed over before the final "checked" report

    def after_case(self, number: int, nbytes: int) -> None:
        self.held += nbytes
        if BUDGET.limit is None or self.held < BUDGET.limit or number + 1 >= self.total:
            return
        answer = self.converse("checking", _interim(self.ctx, {"checked_through": float(number + 1)}), self.exports)
        self.exports.clear()  # the referee has read them: their memory is free again
        self.held, self.count = 0, self.count + 1
        if answer.phase != Step.check:
            raise _StopCheck


class _StopCheck(Exception):  # noqa: N818 - control flow: the evaluator ended the job after a batch
    """Raised out of a candidate's check loop when the evaluator's answer to a batch is not "check"."""

    @staticmethod
    @contextlib.contextmanager
    def caught() -> Iterator[list[bool]]:
        """Yields a list that holds True once the block was left by a _StopCheck (which is swallowed)."""
        stopped: list[bool] = []
        try:
            yield stopped
        except _StopCheck:
            stopped.append(True)


def _setup(ctx: WorkerContext, job: EvalJob) -> dict[str, Any]:
    """Checks the previous job left nothing patched, takes this job's snapshots; returns the baseline models
    (compiled once per worker; their inputs are bound at timing)."""
    check_taint(ctx, "the previous candidate")
    kind = _baseline_name(ctx, job)
    baselines = {shape: measure.baseline_model(ctx, shape, kind) for shape in job.shapes if job.timing}
    if kind == "compile" and job.timing:  # eager beside it: the export's fallback is the eager reference
        for shape in job.shapes:
            if shape not in ctx.eager:
                ctx.eager[shape] = measure.baseline_model(ctx, shape, "eager")
    with poisoned_allocations():  # its first use imports lazily; do that before the snapshot
        pass
    ctx.snapshot = TaintSnapshot()  # safe: the check above passed and no candidate code ran since
    ctx.initial_state = procstate.capture()  # after the harness's own work: what the job must end with
    return baselines


def _interim(ctx: WorkerContext, metrics: dict[str, float], timings: list[ShapeTiming] | None = None) -> EvalResult:
    return EvalResult(status=EvalStatus.OK, timings=timings or [], metrics=dict(metrics), platform=ctx.platform.name)


def _learn_expected(timed: list[tuple[Any, ...]], expected: dict[str, Any]) -> None:
    """Sets each timed shape's output structure from the referee's (the roofline needs output sizes)."""
    for sc, *_ in timed:
        if not sc.expected and sc.shape in expected:
            sc.expected = [(tuple(size), exchange.DTYPES[dtype]) for size, dtype in expected[sc.shape]]


def _baseline_name(ctx: WorkerContext, job: EvalJob) -> str:
    return "eager" if ctx.platform.interpreter else job.baseline


def _flops_metrics(ctx: WorkerContext, sc: ShapeCases, candidate_ms: float) -> dict[str, float]:
    """Returns achieved TFLOP/s and its share of the dtype's matmul peak (measured once per worker)."""
    flops, dtype = ctx.task.flops(sc.shape), measure.compute_dtype(sc)
    if not flops or dtype is None:
        return {}
    peak = measure.cached_peak(ctx, f"tflops.{dtype}", lambda c: measure.measure_peak_tflops(c, dtype))
    return measure.flops_roofline(sc.shape, flops, candidate_ms, peak)


def _time_and_profile(ctx: WorkerContext, job: EvalJob, timed: list[tuple[Any, ...]], baselines: dict[str, Any],
                      draws: dict[str, int]) -> tuple[list[ShapeTiming], dict[str, float], list[dict[str, Any]]]:
    name = _baseline_name(ctx, job)
    timings: list[ShapeTiming] = []
    kept: list[measure.Spot] = []
    adaptive: dict[str, float] = {}
    for sc, model, slots, first in timed:
        baseline = measure.bind(baselines[sc.shape], sc.cases[0].inputs, ctx)
        timing, found, notes = measure.time_shape(ctx, job, sc, model, slots, baseline, name, first, draws,
                                                  eager=ctx.eager.get(sc.shape) if name == "compile" else None)
        timings.append(timing)
        kept.extend(found)
        adaptive.update(notes)
    metrics: dict[str, float] = dict(adaptive)
    if ctx.platform.interpreter or not timed:
        return timings, metrics, _export_spot(ctx, kept)
    peak = measure.cached_peak(ctx, "gbps", measure.measure_peak_gbps)
    for (sc, *_), timing in zip(timed, timings, strict=True):
        metrics.update(measure.roofline(sc, timing.candidate_ms, peak))
        metrics.update(_flops_metrics(ctx, sc, timing.candidate_ms))
    metrics.update(measure.overall_fractions(metrics))
    if job.profile:
        with ctx.phases.phase("profile"):
            _profile(ctx, job, timed, metrics)
    with ctx.phases.phase("export"):
        return timings, metrics, _export_spot(ctx, kept)


def _profile(ctx: WorkerContext, job: EvalJob, timed: list[tuple[Any, ...]], metrics: dict[str, float]) -> None:
    """Adds the torch.profiler summary per timed shape; raises CheckFailed below the least Triton time share."""
    fractions = []
    for sc, model, slots, _ in timed:
        found = measure.profile_shape(ctx, model, slots)
        fractions.append(found["triton_time_fraction"])
        metrics.update({f"{k}.{sc.shape}": v for k, v in found.items()})
    metrics["triton_time_fraction"] = min(fractions)
    if min(fractions) < job.min_triton_fraction:
        raise CheckFailed(EvalStatus.INTEGRITY_VIOLATION,
                          f"only {min(fractions):.0%} of device time is in the candidate's Triton kernels "
                          f"(< {job.min_triton_fraction:.0%}): a PyTorch fallback in disguise")


def _export_spot(ctx: WorkerContext, kept: list[measure.Spot]) -> list[dict[str, Any]]:
    """Returns the manifest of the round's kept timed outputs, exported after all of the round's candidate code:
    each tagged with its shape's first case number and its draw (measure.FreshDraws), whose inputs the referee
    rebuilds."""
    return [{**entry, "draw": draw} for number, draw, outputs in kept
            for entry in export_outputs(ctx, outputs, number)]
