"""Keeping N evaluators fed, and saying what limits a run's throughput. Plain Python, no Ray: the controller
actor (actors/controller.py) feeds it what its pools see.

Feeding. The core Controller keeps `search.concurrency` items (expansions + evaluations) in flight. With
N evaluators of `eval_batch` slots each, fewer than N x eval_batch items leaves GPUs idle however fast the
operator is, and exactly that many leaves a slot idle for a whole expansion each time a verdict comes back.
So on Ray the in-flight target grows with the fleet: every evaluation slot gets `expansions_per_slot`
expansions in flight behind it (Little's law: enough when it is at least expansion time / evaluation time),
and the expanders grow to hold them. The configured values stay as floors.

Diagnosis. Both pools' loads are integrated over a sliding window (FeedMeter). Evaluation slots idle while
expansions are running means the evaluators wait for candidates: the operator (LLM or offline mutator) is
the bottleneck, not the GPUs; slots busy means the evaluators are; slots idle with nothing being expanded
wait for nothing (the end of the budget). `diagnose` says which, with the numbers and the knob that helps.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
import threading
import time
from collections.abc import Callable

from kernelevolve.controller import Snapshot
from kernelevolve.core.errors import ConfigError

WINDOW_S = 30.0  # the diagnosis looks at the last 30 s: long enough to span several verdicts, short enough to follow a run
IDLE_OPERATOR = 0.25  # evaluation slots idle >= 25% of the window while expansions run: the operator limits
SATURATED = 0.9  # a pool busy >= 90% of its capacity is saturated
MIN_EVIDENCE_S = 2.0  # no verdict on less than 2 s of observation, or before the first evaluation finished


@dataclasses.dataclass(frozen=True, kw_only=True)
class FeedPlan:
    """How a Ray run keeps its evaluators fed.

    Attributes:
        eval_slots: candidates the evaluators take at once (evaluators x eval_batch).
        concurrency: expansions + evaluations the controller keeps in flight.
        expanders: expander actors, enough to run the expansions in flight at once.
    """

    eval_slots: int
    concurrency: int
    expanders: int


def plan_feed(*, eval_slots: int, concurrency: int, expanders: int, expander_concurrency: int,
              expansions_per_slot: float) -> FeedPlan:
    """Returns the in-flight target and expander count for `eval_slots` evaluation slots.

    concurrency = max(configured, ceil(eval_slots x (1 + expansions_per_slot))); expanders = max(configured,
    ceil(expansions in flight / expander_concurrency)). expansions_per_slot = 0 keeps the configured values.
    """
    if expansions_per_slot < 0:
        raise ConfigError(f"cluster.expansions_per_slot must be >= 0 (expansions per evaluation slot), got "
                          f"{expansions_per_slot}; 0 keeps search.concurrency and cluster.expanders as configured")
    if expansions_per_slot == 0:
        return FeedPlan(eval_slots=eval_slots, concurrency=concurrency, expanders=max(1, expanders))
    expansions = math.ceil(eval_slots * expansions_per_slot)
    target = max(concurrency, eval_slots + expansions)
    needed = math.ceil((target - eval_slots) / max(1, expander_concurrency))
    return FeedPlan(eval_slots=eval_slots, concurrency=target, expanders=max(1, expanders, needed))


class Pool(enum.StrEnum):
    """The two pools whose load the controller meters."""

    EVALUATORS = "evaluator"
    EXPANDERS = "expander"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reading:
    """The pipeline over the window. Shares are of each pool's capacity (0..1).

    Attributes:
        eval_busy: mean share of the evaluation slots holding a candidate.
        starved: mean share of the evaluation slots idle while an expansion was running: slots waiting
            for the operator (idle slots with nothing being expanded wait for nothing: the budget is
            committed, or the policy has no parent).
        expand_busy: mean share of the expansion slots (expanders x expander_concurrency) in use.
        eval_call_s, expand_call_s: mean seconds of the calls that finished in the window (None: none did).
        eval_calls: evaluations finished in the window.
        evaluating, expanding: calls running now.
        observed_s: seconds the window covers (less than WINDOW_S early in a run).
    """

    eval_busy: float
    starved: float
    expand_busy: float
    eval_call_s: float | None
    expand_call_s: float | None
    eval_calls: int
    evaluating: int
    expanding: int
    observed_s: float


class FeedMeter:
    """Integrates both pools' loads (calls running) over time; thread-safe.

    Loads are piecewise constant between `begin`/`end`, so the integrals (evaluation load, expansion load,
    idle evaluation slots while an expansion runs) are piecewise linear: marks of (time, integrals) at each
    change, interpolated at the window's start, give exact shares.
    """

    def __init__(self, *, eval_slots: int, expand_slots: int, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = {Pool.EVALUATORS: max(1, eval_slots), Pool.EXPANDERS: max(1, expand_slots)}
        self._window_s, self._clock = window_s, clock
        self._lock = threading.Lock()
        self._born = self._t = clock()
        self._load = dict.fromkeys(Pool, 0)
        self._area = (0.0, 0.0, 0.0)  # integrals of: evaluation load, expansion load, starved slots
        self._marks: collections.deque[tuple[float, tuple[float, float, float]]] = collections.deque(
            [(self._born, self._area)])
        self._calls = {pool: collections.deque[tuple[float, float]]() for pool in Pool}  # (end time, seconds)

    def begin(self, pool: Pool) -> float:
        """Counts one more call running on `pool`; returns its start time (give it to `end`)."""
        with self._lock:
            now = self._advance()
            self._load[pool] += 1
            return now

    def end(self, pool: Pool, started: float) -> None:
        """Counts the call started at `started` on `pool` as finished."""
        with self._lock:
            now = self._advance()
            self._load[pool] -= 1
            self._calls[pool].append((now, now - started))

    def reading(self) -> Reading:
        """Returns both pools' shares, call times and counts over the last window."""
        with self._lock:
            now = self._advance()
            start = max(self._born, now - self._window_s)
            span = now - start
            then = self._area_at(start)
            evals, expands, starved = (
                (a - b) / (span * c) if span > 0 else 0.0
                for a, b, c in zip(self._area, then, (self.capacity[Pool.EVALUATORS],
                                                      self.capacity[Pool.EXPANDERS],
                                                      self.capacity[Pool.EVALUATORS]), strict=True))
            mean = {pool: self._mean_call_s(pool, start) for pool in Pool}
            return Reading(eval_busy=min(1.0, evals), starved=min(1.0, starved), expand_busy=min(1.0, expands),
                           eval_call_s=mean[Pool.EVALUATORS][0], expand_call_s=mean[Pool.EXPANDERS][0],
                           eval_calls=mean[Pool.EVALUATORS][1], evaluating=self._load[Pool.EVALUATORS],
                           expanding=self._load[Pool.EXPANDERS], observed_s=span)

    def _mean_call_s(self, pool: Pool, start: float) -> tuple[float | None, int]:
        calls = self._calls[pool]
        while calls and calls[0][0] < start:
            calls.popleft()
        return (sum(s for _, s in calls) / len(calls) if calls else None), len(calls)

    def _advance(self) -> float:
        now = self._clock()
        dt = now - self._t
        evals, expands = self._load[Pool.EVALUATORS], self._load[Pool.EXPANDERS]
        idle = max(0, self.capacity[Pool.EVALUATORS] - evals) if expands > 0 else 0
        self._area = (self._area[0] + evals * dt, self._area[1] + expands * dt, self._area[2] + idle * dt)
        self._t = now
        self._marks.append((now, self._area))
        while len(self._marks) > 2 and self._marks[1][0] <= now - self._window_s:
            self._marks.popleft()  # keep one mark at or before the window's start, for interpolation
        return now

    def _area_at(self, t: float) -> tuple[float, float, float]:
        """Returns the integrals at time t (t within the marks kept)."""
        before = self._marks[0]
        for mark in self._marks:
            if mark[0] >= t:
                if mark[0] == before[0]:
                    return mark[1]
                w = (t - before[0]) / (mark[0] - before[0])
                return tuple(b + (a - b) * w for a, b in zip(mark[1], before[1], strict=True))  # type: ignore[return-value]
            before = mark
        return before[1]


class Limit(enum.StrEnum):
    """What limits a run's throughput now."""

    UNKNOWN = "unknown"  # too early to say
    OPERATOR = "operator"  # evaluators wait for candidates being expanded: the LLM / offline operator is too slow
    EVALUATORS = "evaluators"  # the evaluation slots are busy: the GPUs (the judge) set the pace
    IDLE = "idle"  # evaluators idle with nothing being expanded: the budget is committed, or no parent to expand


@dataclasses.dataclass(frozen=True, kw_only=True)
class Diagnosis:
    """The verdict on a run's pipeline, and the line the live status shows."""

    limit: Limit
    line: str


def diagnose(r: Reading, *, expand_slots: int) -> Diagnosis:
    """Returns what limits the run: the operator when evaluation slots idle while expansions run, the
    evaluators when their slots are busy; the line names the numbers and what to raise."""
    if r.observed_s < MIN_EVIDENCE_S or r.eval_calls == 0:
        return Diagnosis(limit=Limit.UNKNOWN, line="")
    if r.starved >= IDLE_OPERATOR:
        pace = ""
        if r.expand_call_s is not None and r.eval_call_s:
            pace = f"; an expansion takes {r.expand_call_s:.1f}s, an evaluation {r.eval_call_s:.1f}s"
        if r.expand_busy >= SATURATED:
            advice = (f"all {expand_slots} expansion slots are busy: raise cluster.expanders or "
                      "cluster.expander_concurrency (an LLM client lets llm.openai.max_concurrency calls through)")
        else:
            advice = "raise cluster.expansions_per_slot (or search.concurrency) to keep more candidates coming"
        return Diagnosis(limit=Limit.OPERATOR, line=f"operator-bound: evaluators idle {r.starved:.0%} waiting "
                                                    f"for candidates{pace}; {advice}")
    if 1.0 - r.eval_busy < IDLE_OPERATOR:
        return Diagnosis(limit=Limit.EVALUATORS, line=f"GPU-bound: evaluation slots {r.eval_busy:.0%} busy")
    return Diagnosis(limit=Limit.IDLE, line=f"evaluators idle {1.0 - r.eval_busy:.0%} with nothing being expanded "
                                            "(the step budget is committed, or the policy has no parent to expand)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class FleetSnapshot(Snapshot):
    """A Ray run's progress snapshot: the core one with the line saying what limits the run now."""

    @classmethod
    def of(cls, snapshot: Snapshot, bottleneck: str) -> FleetSnapshot:
        """Returns `snapshot` with the bottleneck line added."""
        fields = {f.name: getattr(snapshot, f.name) for f in dataclasses.fields(Snapshot) if f.name != "bottleneck"}
        return cls(**fields, bottleneck=bottleneck)
