"""Metering a run's two pools, expansions and evaluations, over a sliding window. Plain Python: the Ray controller
actor (actors/feed.py diagnoses its fleet from it) and the local search (eval/judge_pool.py meters its judges)
both use it, so "busy" means one thing in both drivers.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
import threading
import time
from collections.abc import Callable

from kernelevolve.core.errors import ConfigError

WINDOW_S = 30.0  # long enough to span several verdicts, short enough to follow a run


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
        self.window_s, self._clock = window_s, clock
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
            start = max(self._born, now - self.window_s)
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
        while len(self._marks) > 2 and self._marks[1][0] <= now - self.window_s:
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


@dataclasses.dataclass(frozen=True, kw_only=True)
class FeedPlan:
    """How a run keeps its evaluation slots fed (on Ray, its evaluators'; on cluster=local, one device's judges and
    compile workers).

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
