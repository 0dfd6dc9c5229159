"""One candidate's evaluation as the evaluator runs it: worker and referee, phase by phase.

    referee: prepare the job's first case       and, meanwhile,  worker: build it, import, run it, export
    referee: judge it           -- not ok --> worker: abort (nothing else was built: cheap rejection)
    referee: prepare every other case           and, meanwhile,  worker: build and run every case, export
    referee: judge the outputs  -- not ok --> worker: abort; the referee's verdict is the verdict
    worker: time (fresh inputs every call), export the outputs of the last call and one drawn at random
    referee: rebuild those calls' inputs, judge the outputs   -- not ok --> abort
    fitness above suspicious_speedup on a new record: worker times again (new draws), referee judges those calls too
    worker: finish -> its final report; the evaluator sets fitness from the timings

The verdict's correctness therefore comes from a process that never ran candidate code; the worker's
own report (timings, launch counts, provenance) is still measured where the candidate runs.

Device gate (device_gate.py): the first case and the check phase hold the device shared with other
judges' checks; the worker's timing round holds it alone. Waiting for the gate is its own phase
(`gate_wait`) and does not count against the candidate's timeout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterator
from typing import Any, TypeGuard

from kernelevolve.core.errors import SandboxError
from kernelevolve.core.types import EvalResult, EvalStatus, ShapeTiming
from kernelevolve.eval import phases
from kernelevolve.eval.device_gate import OpenGate
from kernelevolve.eval.fitness import geomean_speedup
from kernelevolve.eval.phases import PhaseClock
from kernelevolve.eval.protocols import Gate
from kernelevolve.eval.sandbox import Reply, ReplyKind, WorkerProcess, tail_lines
from kernelevolve.eval.wire.messages import (
    BadMessage,
    EvalJob,
    JudgeOutputs,
    NextStep,
    PrepareCases,
    Prepared,
    Step,
    WorkerReport,
)


class RefereeFailed(SandboxError):
    """The referee could not prepare references (a harness or task problem, never the candidate's)."""


@dataclasses.dataclass(frozen=True)
class Verdict:
    """How a conversation that reached a verdict ended: the verdict, and whether the worker must be recycled."""

    result: EvalResult
    recycle: bool


Ended = Verdict | Reply  # a Reply only for a worker that gave no usable report (died, timed out, forged, ...)
_REPLY_STATUS = {ReplyKind.TIMEOUT: EvalStatus.TIMEOUT, ReplyKind.DIED: EvalStatus.CRASHED,
                 ReplyKind.MEMORY: EvalStatus.CRASHED, ReplyKind.FORGED: EvalStatus.INTEGRITY_VIOLATION}


def result_of(ended: Ended, log_tail: str, error_chars: int, platform: str) -> EvalResult:
    """Returns the verdict's result, or for a worker that gave none the failure its reply says."""
    if isinstance(ended, Verdict):
        return ended.result
    status = _REPLY_STATUS.get(ended.kind, EvalStatus.CRASHED)
    reason = {ReplyKind.TIMEOUT: f"timeout: {ended.detail}; the worker's process group was killed",
              ReplyKind.DIED: f"crashed: {ended.detail}",
              ReplyKind.MEMORY: f"crashed: {ended.detail}; killed",
              ReplyKind.FORGED: f"integrity violation: {ended.detail}"}.get(ended.kind, ended.detail)
    tail = log_tail[-error_chars:] if log_tail else None
    return EvalResult(status=status, reason=reason, error=tail, platform=platform)


def failed_as(ended: Ended, kind: ReplyKind) -> TypeGuard[Reply]:
    """True when the worker gave no verdict, and failed this way."""
    return isinstance(ended, Reply) and ended.kind == kind


@dataclasses.dataclass(kw_only=True)
class Conversation:
    """The parties and limits of one evaluation."""

    worker: WorkerProcess
    referee: WorkerProcess
    timeout_s: float
    referee_timeout_s: float
    suspicious_speedup: float
    interpreter: bool
    file_exchange: bool
    gate: Gate = dataclasses.field(default_factory=OpenGate)

    def run(self, job: EvalJob) -> Ended:
        """Returns the verdict (the worker's own failure, the referee's, or the timed one), or the reply of a
        worker that gave no usable report."""
        self._deadline = time.monotonic() + self.timeout_s
        self.clock = PhaseClock()
        self._referee_phases: dict[str, float] = {}
        cases = PrepareCases(shapes=job.shapes, heldout=job.heldout, seeds=job.seeds, extra_seed=job.extra_seed,
                             extra_distribution=job.extra_distribution, timing_seed=job.timing_seed)
        with self.clock.phase("first_case"), self._device("shared"):
            first = dataclasses.replace(cases, stop=1, case_memory_fraction=job.case_memory_fraction)
            pending = self.referee.post(first.to_wire())
            reply = self._ask(job.to_wire())  # meanwhile the referee builds the first reference
            self._prepared(self.referee.collect(pending, self.referee_timeout_s))
        if not _interim(reply, "first"):
            return self._with_phases(_final(reply))
        with self._device("shared"):
            verdict = self._judge(reply, require="all", label="correctness")
        if not verdict.ok:
            return self._abort(verdict)
        prepared = self._check(cases)
        if not isinstance(prepared, Prepared):
            return prepared  # how the check phase ended the conversation
        with self.clock.phase("timing"):
            timings, stop = self._timed_round(NextStep(phase=Step.time, expected=prepared.expected,
                                                       best_ms=job.best_ms), job.shapes,
                                              min_case=0, label="timed calls")
        if stop is not None:
            return stop
        fitness = geomean_speedup(timings)
        extra: dict[str, float] = {}
        note = ""
        record = _new_record(timings, job.best_ms, fitness, job.best_fitness)
        if fitness > self.suspicious_speedup and not self.interpreter and record:
            with self.clock.phase("retiming"):  # every timed call gets inputs no call saw: nothing to prepare
                fresh, stop = self._timed_round(NextStep(phase=Step.retime, expected=prepared.expected),
                                                job.shapes, min_case=0, label="re-measured on fresh inputs")
            if stop is not None:
                return stop
            again = geomean_speedup(fresh)
            extra = {"flagged_for_review": 1.0, "remeasured_fitness": again}
            note = (f"; speedup {fitness:.1f}x above {self.suspicious_speedup:g}x: re-measured on fresh inputs "
                    f"({again:.1f}x), flagged for review")
            if again < fitness:  # the verdict keeps the slower round, timings with it (the judge's best learns them)
                fitness, timings = again, fresh
        with self.clock.phase("finish"):
            final = self._ask(NextStep(phase=Step.finish).to_wire())
        if not _interim(final, "final"):
            return self._with_phases(_final(final))
        result = final.result
        if result.ok:
            result = dataclasses.replace(result, fitness=fitness, timings=timings, reason=result.reason + note,
                                         metrics=dict(result.metrics, **extra))
        return self._with_phases(Verdict(result, final.recycle))

    def _check(self, cases: PrepareCases) -> Prepared | Ended:
        """Runs the check phase with the device held shared (see _checked)."""
        with self._device("shared"):
            return self._checked(cases)

    def _checked(self, cases: PrepareCases) -> Prepared | Ended:
        """Runs the check phase: the worker runs every case after the first, the referee judges them (in batches
        when the worker's outputs would not fit in memory at once); returns what the referee prepared, or how
        the conversation ended."""
        with self.clock.phase("check"):
            pending = self.referee.post(dataclasses.replace(cases, start=1, append=True).to_wire())
            reply = self._ask(NextStep(phase=Step.check).to_wire())
            prepared = self._prepared(self.referee.collect(pending, self.referee_timeout_s))
        low = 1  # case 0 was judged
        while _interim(reply, "checking"):  # a batch: the worker's outputs would not fit in memory at once
            through = reply.result.metrics.get("checked_through")
            if not isinstance(through, int | float) or not low < int(through) < prepared.cases:
                return self._abort(EvalResult(status=EvalStatus.INTEGRITY_VIOLATION,
                                              reason=f"the worker reported a check batch through case "
                                                     f"{through!r} (expected one after case {low})"))
            verdict = self._judge(reply, require="all", min_case=low, max_case=int(through), label="correctness")
            if not verdict.ok:
                return self._abort(verdict)
            low = int(through)
            with self.clock.phase("check"):
                reply = self._ask(NextStep(phase=Step.check).to_wire())
        if not _interim(reply, "checked"):
            return self._with_phases(_final(reply))
        verdict = self._judge(reply, require="all", min_case=low, label="correctness")
        return prepared if verdict.ok else self._abort(verdict)

    def _with_phases(self, ended: Ended) -> Ended:
        """Returns a verdict that carries the evaluator's and the referee's phase seconds too (the worker's are in
        its own report)."""
        if not isinstance(ended, Verdict):
            return ended
        metrics = phases.merge(ended.result.metrics, self.clock.report(), self._referee_phases)
        return dataclasses.replace(ended, result=dataclasses.replace(ended.result, metrics=metrics))

    def _ask(self, message: dict[str, Any]) -> WorkerReport | Reply:
        """Returns the worker's report on a message, or the reply of a worker that gave none it could read."""
        reply = self.worker.request(message, self._left())
        if reply.kind != ReplyKind.RESULT:
            return reply
        try:
            return WorkerReport.from_wire(reply.payload)
        except BadMessage as exc:  # the worker's harness writes nothing else: the candidate's doing
            return Reply(kind=ReplyKind.FORGED, detail=f"the worker's report is malformed ({exc})")

    def _timed_round(self, step: NextStep, shapes: list[str], *, min_case: int,
                     label: str) -> tuple[list[ShapeTiming], Ended | None]:
        """Runs one timing round: the worker times, the referee judges its last timed outputs, the report is
        checked; returns (timings, None), or ([], how the conversation ended)."""
        with self._device("exclusive"):  # no other process's kernels overlap the timed reps
            reply = self._ask(step.to_wire())
        if not _interim(reply, "timed"):
            return [], _final(reply)
        with self._device("shared"):
            verdict = self._judge(reply, shapes=shapes, min_case=min_case, label=label)
        if not verdict.ok:
            return [], self._abort(verdict)
        timings, why = _timing_report(reply, shapes)
        if why:
            return [], self._abort(_forged_timings(why))
        return timings, None

    @contextlib.contextmanager
    def _device(self, mode: str) -> Iterator[None]:
        """Holds the device gate shared (checks) or exclusive (timing); the wait is carved out of the phase it
        happened in as `gate_wait` and added to the deadline (a candidate's timeout is its own time)."""
        with (self.gate.shared() if mode == "shared" else self.gate.exclusive()) as waited:
            self.clock.carve("gate_wait", waited)
            self._deadline += waited
            yield

    def _left(self) -> float:
        return max(self._deadline - time.monotonic(), 1.0)

    def _prepare(self, msg: PrepareCases) -> Prepared:
        return self._prepared(self.referee.request(msg.to_wire(), self.referee_timeout_s))

    def _prepared(self, reply: Reply) -> Prepared:
        if reply.kind != ReplyKind.RESULT:
            raise RefereeFailed(f"the referee could not compute the reference outputs ({reply.kind}: "
                                f"{tail_lines(reply.detail, 1500)}); log tail:\n{self.referee.log_tail()}")
        try:
            prepared = Prepared.from_wire(reply.payload.get("result"))
        except BadMessage as exc:  # the referee runs no candidate code: a harness problem, as above
            raise RefereeFailed(f"the referee's answer is malformed ({exc})") from exc
        if prepared.phases is not None:
            self._referee_phases = dict(prepared.phases)
        return prepared

    def _judge(self, report: WorkerReport, **what: Any) -> EvalResult:
        with self.clock.phase("judge"):
            return self._judge_outputs(report, **what)

    def _judge_outputs(self, report: WorkerReport, **what: Any) -> EvalResult:
        pid = self.worker.proc.pid if self.file_exchange else None  # whose sealed memfds the manifest names
        answer = self.referee.request(JudgeOutputs(outputs=report.outputs, pid=pid, **what).to_wire(),
                                      self.referee_timeout_s)
        if answer.kind != ReplyKind.RESULT:  # the manifest is the candidate's doing: a referee it broke is a verdict
            self.referee.kill()
            return EvalResult(status=EvalStatus.INTEGRITY_VIOLATION,
                              reason=f"the referee failed reading this candidate's outputs ({answer.kind}: "
                                     f"{answer.detail.strip().splitlines()[-1][:300] if answer.detail else ''})")
        found = EvalResult.from_dict(answer.payload["result"])
        accounting = {k: v for k, v in found.metrics.items() if phases.is_accounting(k)}
        self._referee_phases = accounting  # cumulative for the job: merged into the verdict once, by _with_phases
        return dataclasses.replace(found, metrics={k: v for k, v in found.metrics.items() if k not in accounting})

    def _abort(self, verdict: EvalResult) -> Ended:
        final = self._ask(NextStep(phase=Step.abort).to_wire())
        worker = {}
        if isinstance(final, WorkerReport):
            worker = {k: v for k, v in final.result.metrics.items() if phases.is_accounting(k)}
        verdict = dataclasses.replace(verdict, metrics={**verdict.metrics, **worker})
        return self._with_phases(Verdict(verdict, not isinstance(final, WorkerReport) or final.recycle))


RECORD_MARGIN = 1.2  # a re-timed speedup beats the judge's best time on a shape, or its best fitness, by this factor


def _new_record(timings: list[ShapeTiming], best_ms: dict[str, float], fitness: float, best_fitness: float) -> bool:
    """Returns True when a timed shape has no ok time in this judge yet, this candidate beats the best time on a
    shape by more than RECORD_MARGIN, or its fitness beats the best fitness by as much (a fluke of the interleaved
    baseline): the speedups worth re-timing (a fluke shows as a jump). A task whose honest kernels all sit above
    eval.suspicious_speedup (mbdt, batch_event_truncate: 20-70x) would otherwise time every candidate twice and
    flag every one for review; its first kernel and every jump past the best still are."""
    return not best_ms or fitness > best_fitness * RECORD_MARGIN or any(
        t.shape not in best_ms or t.candidate_ms * RECORD_MARGIN < best_ms[t.shape] for t in timings)


def _interim(report: WorkerReport | Reply, phase: str) -> TypeGuard[WorkerReport]:
    return isinstance(report, WorkerReport) and report.phase == phase


def _final(report: WorkerReport | Reply) -> Ended:
    """Returns how a conversation that ends here ended: a final failure report is the verdict, anything else
    in its place is forged."""
    if not isinstance(report, WorkerReport):
        return report
    if report.phase != "final":
        return Reply(kind=ReplyKind.FORGED, detail=f"a report of phase {report.phase[:20]!r} arrived out of order")
    if report.result.ok:
        return Reply(kind=ReplyKind.FORGED, detail="the worker reported success without the referee's judgement")
    return Verdict(report.result, report.recycle)


def _timing_report(report: WorkerReport, shapes: list[str]) -> tuple[list[ShapeTiming], str]:
    """Returns a timed report's timings, or why they cannot make a fitness (each job shape once, finite)."""
    timings = report.result.timings
    got = sorted(str(t.shape) for t in timings)
    if got != sorted(shapes):
        return [], f"covers shapes {got[:8]}, expected each of {sorted(shapes)} once"
    for t in timings:
        times = (t.candidate_ms, *(() if t.baseline_ms is None else (t.baseline_ms,)))  # a measured time is > 0
        spreads = (t.candidate_iqr_ms, t.baseline_iqr_ms or 0.0)
        if not (all(_finite(x) and x > 0 for x in times) and all(_finite(x) and x >= 0 for x in spreads)):
            return [], f"holds an impossible time for shape {t.shape} ({(*times, *spreads)})"
    return timings, ""


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _forged_timings(why: str) -> EvalResult:
    return EvalResult(status=EvalStatus.INTEGRITY_VIOLATION, reason=f"the worker's timing report {why}")
