"""One candidate's evaluation as the evaluator runs it: worker and referee, phase by phase.

    referee: prepare the job's first case       and, meanwhile,  worker: build it, import, run it, export
    referee: judge it           -- not ok --> worker: abort (nothing else was built: cheap rejection)
    referee: prepare every other case           and, meanwhile,  worker: build and run every case, export
    referee: judge the outputs  -- not ok --> worker: abort; the referee's verdict is the verdict
    worker: time (inputs rotated through the cases), export the last timed outputs
    referee: judge them         -- not ok --> abort
    fitness above suspicious_speedup: referee prepares fresh seeds, worker re-times on them, referee judges
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
import secrets
import time
from collections.abc import Iterator
from typing import Any

from kernelevolve.core.errors import SandboxError
from kernelevolve.core.types import EvalResult, EvalStatus, ShapeTiming
from kernelevolve.eval import phases
from kernelevolve.eval.device_gate import Gate, OpenGate
from kernelevolve.eval.fitness import geomean_speedup
from kernelevolve.eval.phases import PhaseClock
from kernelevolve.eval.sandbox import Reply, ReplyKind, WorkerProcess, tail_lines


class RefereeFailed(SandboxError):
    """The referee could not prepare references (a harness or task problem, never the candidate's)."""


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

    def run(self, job: dict[str, Any]) -> Reply:
        """Returns the final reply: the worker's own failure, the referee's verdict, or the timed verdict."""
        self._deadline = time.monotonic() + self.timeout_s
        self.clock = PhaseClock()
        self._referee_phases: dict[str, float] = {}
        cases = {"shapes": job["shapes"], "heldout": job["heldout"], "seeds": job["seeds"],
                 "extra_seed": job["extra_seed"], "extra_distribution": job["extra_distribution"]}
        with self.clock.phase("first_case"), self._device("shared"):
            pending = self.referee.post({"kind": "job", "phase": "prepare", **cases, "stop": 1,
                                         "case_memory_fraction": job.get("case_memory_fraction", 0.0)})
            reply = self.worker.request(job, self._left())  # meanwhile the referee builds the first reference
            self._prepared(self.referee.collect(pending, self.referee_timeout_s))
        if not _interim(reply, "first"):
            return self._with_phases(_final(reply))
        with self._device("shared"):
            verdict = self._judge(reply, require="all", label="correctness")
        if not verdict.ok:
            return self._abort(verdict)
        prepared, stop = self._check(cases)
        if stop is not None:
            return stop
        with self.clock.phase("timing"):
            timings, stop = self._timed_round({"phase": "time", "expected": prepared["expected"],
                                               "best_ms": job.get("best_ms", {})}, job["shapes"],
                                              min_case=0, label="last timed rep")
        if stop is not None:
            return stop
        fitness = geomean_speedup(timings)
        extra: dict[str, float] = {}
        note = ""
        if fitness > self.suspicious_speedup and not self.interpreter:
            seeds = [secrets.randbits(31)]
            with self.clock.phase("retiming"):
                with self._device("shared"):
                    self._prepare({"shapes": job["shapes"], "seeds": seeds, "append": True})
                fresh, stop = self._timed_round({"phase": "retime", "seeds": seeds,
                                                 "expected": prepared["expected"]},
                                                job["shapes"], min_case=prepared["cases"],
                                                label="re-measured on fresh inputs")
            if stop is not None:
                return stop
            again = geomean_speedup(fresh)
            extra = {"flagged_for_review": 1.0, "remeasured_fitness": again}
            note = (f"; speedup {fitness:.1f}x above {self.suspicious_speedup:g}x: re-measured on fresh inputs "
                    f"({again:.1f}x), flagged for review")
            fitness = min(fitness, again)
        with self.clock.phase("finish"):
            final = self.worker.request({"kind": "job", "phase": "finish"}, self._left())
        if final.kind != ReplyKind.RESULT or final.payload.get("phase") != "final":
            return self._with_phases(_final(final))
        result = EvalResult.from_dict(final.payload["result"])
        if result.ok:
            result = dataclasses.replace(result, fitness=fitness, timings=timings, reason=result.reason + note,
                                         metrics=dict(result.metrics, **extra))
        return self._with_phases(Reply(kind=ReplyKind.RESULT, payload=dict(final.payload, result=result.to_dict())))

    def _check(self, cases: dict[str, Any]) -> tuple[dict[str, Any], Reply | None]:
        """Runs the check phase with the device held shared (see _checked)."""
        with self._device("shared"):
            return self._checked(cases)

    def _checked(self, cases: dict[str, Any]) -> tuple[dict[str, Any], Reply | None]:
        """Runs the check phase: the worker runs every case after the first, the referee judges them (in batches
        when the worker's outputs would not fit in memory at once); returns (what the referee prepared, None),
        or ({}, the reply that ends the conversation)."""
        with self.clock.phase("check"):
            pending = self.referee.post({"kind": "job", "phase": "prepare", **cases, "start": 1, "append": True})
            reply = self.worker.request({"kind": "job", "phase": "check"}, self._left())
            prepared = self._prepared(self.referee.collect(pending, self.referee_timeout_s))
        low = 1  # case 0 was judged
        while _interim(reply, "checking"):  # a batch: the worker's outputs would not fit in memory at once
            through = reply.payload["result"].get("metrics", {}).get("checked_through")
            if not isinstance(through, int | float) or not low < int(through) < prepared["cases"]:
                return {}, self._abort(EvalResult(status=EvalStatus.INTEGRITY_VIOLATION,
                                                  reason=f"the worker reported a check batch through case "
                                                         f"{through!r} (expected one after case {low})"))
            verdict = self._judge(reply, require="all", min_case=low, max_case=int(through), label="correctness")
            if not verdict.ok:
                return {}, self._abort(verdict)
            low = int(through)
            with self.clock.phase("check"):
                reply = self.worker.request({"kind": "job", "phase": "check"}, self._left())
        if not _interim(reply, "checked"):
            return {}, self._with_phases(_final(reply))
        verdict = self._judge(reply, require="all", min_case=low, label="correctness")
        return prepared, (None if verdict.ok else self._abort(verdict))

    def _with_phases(self, reply: Reply) -> Reply:
        """Returns a result reply whose verdict carries the evaluator's and the referee's phase seconds too (the
        worker's are in its own report)."""
        if reply.kind != ReplyKind.RESULT or "result" not in reply.payload:
            return reply
        result = EvalResult.from_dict(reply.payload["result"])
        metrics = phases.merge(result.metrics, self.clock.report(), self._referee_phases)
        result = dataclasses.replace(result, metrics=metrics)
        return Reply(kind=reply.kind, payload=dict(reply.payload, result=result.to_dict()))

    def _timed_round(self, msg: dict[str, Any], shapes: list[str], *, min_case: int,
                     label: str) -> tuple[list[ShapeTiming], Reply | None]:
        """Runs one timing round: the worker times, the referee judges its last timed outputs, the report is
        checked; returns (timings, None), or ([], the reply that ends the conversation)."""
        with self._device("exclusive"):  # no other process's kernels overlap the timed reps
            reply = self.worker.request(dict(msg, kind="job"), self._left())
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
        before = self.gate.waited_s
        with self.gate.shared() if mode == "shared" else self.gate.exclusive():
            waited = self.gate.waited_s - before
            self.clock.carve("gate_wait", waited)
            self._deadline += waited
            yield

    def _left(self) -> float:
        return max(self._deadline - time.monotonic(), 1.0)

    def _prepare(self, msg: dict[str, Any]) -> dict[str, Any]:
        return self._prepared(self.referee.request(dict(msg, kind="job", phase="prepare"), self.referee_timeout_s))

    def _prepared(self, reply: Reply) -> dict[str, Any]:
        if reply.kind != ReplyKind.RESULT:
            raise RefereeFailed(f"the referee could not compute the reference outputs ({reply.kind}: "
                                f"{tail_lines(reply.detail, 1500)}); log tail:\n{self.referee.log_tail()}")
        self._referee_phases = dict(reply.payload["result"].get("phases", self._referee_phases))
        return reply.payload["result"]

    def _judge(self, reply: Reply, **what: Any) -> EvalResult:
        with self.clock.phase("judge"):
            return self._judge_outputs(reply, **what)

    def _judge_outputs(self, reply: Reply, **what: Any) -> EvalResult:
        pid = self.worker.proc.pid if self.file_exchange else None  # whose sealed memfds the manifest names
        answer = self.referee.request({"kind": "job", "phase": "judge", "outputs": reply.payload.get("outputs", []),
                                       "pid": pid, **what}, self.referee_timeout_s)
        if answer.kind != ReplyKind.RESULT:  # the manifest is the candidate's doing: a referee it broke is a verdict
            self.referee.kill()
            return EvalResult(status=EvalStatus.INTEGRITY_VIOLATION,
                              reason=f"the referee failed reading this candidate's outputs ({answer.kind}: "
                                     f"{answer.detail.strip().splitlines()[-1][:300] if answer.detail else ''})")
        found = EvalResult.from_dict(answer.payload["result"])
        accounting = {k: v for k, v in found.metrics.items() if phases.is_accounting(k)}
        self._referee_phases = accounting  # cumulative for the job: merged into the verdict once, by _with_phases
        return dataclasses.replace(found, metrics={k: v for k, v in found.metrics.items() if k not in accounting})

    def _abort(self, verdict: EvalResult) -> Reply:
        final = self.worker.request({"kind": "job", "phase": "abort"}, self._left())
        recycle = final.kind != ReplyKind.RESULT or bool(final.payload.get("recycle"))
        worker = {}
        if final.kind == ReplyKind.RESULT and isinstance(final.payload.get("result"), dict):
            worker = {k: v for k, v in dict(final.payload["result"].get("metrics") or {}).items()
                      if phases.is_accounting(k)}
        verdict = dataclasses.replace(verdict, metrics={**verdict.metrics, **worker})
        reply = Reply(kind=ReplyKind.RESULT, payload={"result": verdict.to_dict(), "recycle": recycle, "phase": "final"})
        return self._with_phases(reply)


def _interim(reply: Reply, phase: str) -> bool:
    return reply.kind == ReplyKind.RESULT and reply.payload.get("phase") == phase


def _final(reply: Reply) -> Reply:
    """Returns a reply that ends the conversation: a final report passes, an out-of-order one is forged."""
    if reply.kind == ReplyKind.RESULT and reply.payload.get("phase") != "final":
        return Reply(kind=ReplyKind.FORGED, detail=f"a report of phase {str(reply.payload.get('phase'))[:20]!r} "
                                                   "arrived out of order")
    if reply.kind == ReplyKind.RESULT and EvalResult.from_dict(reply.payload["result"]).ok:
        return Reply(kind=ReplyKind.FORGED, detail="the worker reported success without the referee's judgement")
    return reply


def _timing_report(reply: Reply, shapes: list[str]) -> tuple[list[ShapeTiming], str]:
    """Returns a timed report's timings, or why they cannot make a fitness (each job shape once, finite)."""
    try:
        timings = EvalResult.from_dict(reply.payload["result"]).timings
    except (KeyError, TypeError, ValueError, AttributeError):
        return [], "is malformed"
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
