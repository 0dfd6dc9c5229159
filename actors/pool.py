"""Fault-tolerant dispatch to a set of actors, and the Judge/Operator faces the core Controller calls.

Ray actor calls are at-most-once, and a RayActorError can arrive after the work finished. So work is
keyed (candidate id, expansion request) and saved in the ledger before it is answered (see
evaluator.py, expander.py); this pool only re-sends it. A call whose actor died waits for the restart
(`ping`, at most restart_timeout_s) and goes again, to the least-loaded healthy actor; an actor that
fails `quarantine_after` times in a row, or does not come back, is quarantined: it gets no more work
and is reported. Nothing in flight is lost and, thanks to the ledger, nothing is done or counted twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

from kernelevolve.core.errors import KernelEvolveError
from kernelevolve.core.types import Candidate, EvalResult
from kernelevolve.feed import FeedMeter, Pool
from kernelevolve.operator.expansion import Expansion, ExpansionRequest
from kernelevolve.seeds.protocols import RootOutcome

logger = logging.getLogger(__name__)

FAULT_ATTEMPTS = 2  # a reply that blames the evaluator is tried once more, elsewhere when possible
HEARTBEAT_S = 5.0  # a call pending this long checks that its actor still answers `ping`
RETRY_PING_S = 0.5  # while an actor restarts, its pings fail at once with ActorUnavailableError; ask again after


class _Unresponsive(Exception):  # noqa: N818 - internal signal, never leaves this module
    """An actor stopped answering while one of its calls was pending."""


class ActorsLost(KernelEvolveError):
    """Every actor of a pool is quarantined, or one call kept losing its actor."""


class ResilientPool:
    """Sends keyed calls to the least-loaded healthy actor of a named set, re-sending after failures."""

    def __init__(self, kind: str, actors: dict[str, Any], *, quarantine_after: int, restart_timeout_s: float,
                 max_restarts: int, meter: FeedMeter | None = None) -> None:
        self.kind = kind
        self._meter = meter  # counts this pool's calls over time: what the live status reads
        self._actors = dict(actors)
        self._load = dict.fromkeys(actors, 0)
        self._failures = dict.fromkeys(actors, 0)
        self._probing: set[str] = set()
        self.quarantined: dict[str, str] = {}  # name -> why
        self._quarantine_after, self._restart_timeout_s = quarantine_after, restart_timeout_s
        self._death_attempts = max(1, max_restarts) + len(actors)
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Returns how many actors the pool was given (quarantined ones included)."""
        return len(self._actors)

    def in_flight(self) -> int:
        """Returns the calls now running on this pool's actors."""
        with self._lock:
            return sum(self._load.values())

    def call(self, method: str, *args: Any, is_fault: Callable[[Any], bool] = lambda _: False) -> Any:
        """Returns the first reply that is not a fault; raises ActorsLost when no actor can serve it."""
        if self._meter is None:
            return self._call(method, args, is_fault)
        started = self._meter.begin(Pool(self.kind))
        try:
            return self._call(method, args, is_fault)
        finally:
            self._meter.end(Pool(self.kind), started)

    def _call(self, method: str, args: tuple[Any, ...], is_fault: Callable[[Any], bool]) -> Any:
        deaths, faults, last_fault, avoid = 0, 0, None, None
        while deaths < self._death_attempts and faults < FAULT_ATTEMPTS:
            name = self._acquire(avoid)
            try:
                reply = self._await(name, getattr(self._actors[name], method).remote(*args))
            except (RayActorError, _Unresponsive) as exc:
                deaths += 1
                self._release(name)
                logger.warning("%s %s lost a %s call (%s); re-queuing it", self.kind, name, method, type(exc).__name__)
                self._on_failure(name, probe=not isinstance(exc, _Unresponsive))
                continue
            self._release(name)
            if is_fault(reply):
                faults, last_fault, avoid = faults + 1, reply, name
                self._on_failure(name, probe=False)
                continue
            with self._lock:
                self._failures[name] = 0
            return reply
        if last_fault is not None:
            return last_fault
        raise ActorsLost(f"{self.kind} call {method} lost its actor {deaths} times; quarantined: {self.quarantined}")

    def _await(self, name: str, ref: Any) -> Any:
        """Returns the call's reply; raises _Unresponsive when its actor stops answering pings meanwhile.

        A call sent to an actor whose node died can wait forever for a restart that never comes (its
        placement-group bundle has nowhere to go), so a long call checks on its actor every HEARTBEAT_S.
        """
        while not ray.wait([ref], timeout=HEARTBEAT_S)[0]:
            if self._wait_until_back(name) is not None:
                ray.cancel(ref)  # the ledger makes a late run of it harmless either way
                with self._lock:
                    self._quarantine(name, f"stopped answering for {self._restart_timeout_s:g}s")
                raise _Unresponsive(name) from None
        return ray.get(ref)

    def _acquire(self, avoid: str | None) -> str:
        with self._lock:
            healthy = [n for n in self._actors if n not in self.quarantined and n not in self._probing]
            if not healthy:
                raise ActorsLost(f"no healthy {self.kind} left; quarantined: {self.quarantined}")
            preferred = [n for n in healthy if n != avoid] or healthy
            name = min(preferred, key=lambda n: self._load[n])
            self._load[name] += 1
            return name

    def _release(self, name: str) -> None:
        with self._lock:
            self._load[name] -= 1

    def _on_failure(self, name: str, *, probe: bool) -> None:
        with self._lock:
            if name in self.quarantined or name in self._probing:
                return
            self._failures[name] += 1
            if self._failures[name] >= self._quarantine_after:
                self._quarantine(name, f"failed {self._failures[name]} times in a row")
                return
            if not probe:
                return
            self._probing.add(name)
        try:
            error = self._wait_until_back(name)
            if error is None:
                logger.info("%s %s is back after a restart", self.kind, name)
            else:
                with self._lock:
                    self._quarantine(name, f"did not come back within {self._restart_timeout_s:g}s ({error})")
        finally:
            with self._lock:
                self._probing.discard(name)

    def _wait_until_back(self, name: str) -> str | None:
        """Returns None once the actor answers `ping`, or why it did not within restart_timeout_s.

        A restarting actor refuses calls at once (ActorUnavailableError) rather than queueing them, so
        that error means "ask again", not "gone"; a dead actor (ActorDiedError) or the deadline ends the wait.
        """
        deadline = time.monotonic() + self._restart_timeout_s
        while True:
            try:
                ray.get(self._actors[name].ping.remote(), timeout=max(0.1, deadline - time.monotonic()))
                return None
            except ActorUnavailableError as exc:
                if time.monotonic() >= deadline:
                    return type(exc).__name__
                time.sleep(RETRY_PING_S)
            except (RayActorError, GetTimeoutError) as exc:
                return type(exc).__name__

    def _quarantine(self, name: str, why: str) -> None:
        if name in self.quarantined:
            return
        self.quarantined[name] = why
        logger.error("quarantined %s %s: %s; it gets no more work", self.kind, name, why)


class RemoteJudge:
    """The core Judge, served by evaluator actors."""

    def __init__(self, pool: ResilientPool) -> None:
        self.pool = pool

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        """Returns the verdict on one candidate from whichever evaluator serves it."""
        result, _fault = self.pool.call("evaluate", candidate_id, source, is_fault=lambda reply: bool(reply[1]))
        return result


class RemoteOperator:
    """The core Operator, served by expander actors."""

    def __init__(self, pool: ResilientPool, name: str) -> None:
        self.pool = pool
        self.name = name

    def seed(self) -> Candidate:
        """Returns the operator's starting candidate."""
        return self.pool.call("seed")

    def root_outcome(self) -> RootOutcome:
        """Returns the seed chain's root (with a draft's LLM calls, which the controller records and charges)."""
        return self.pool.call("root_outcome")

    def expand(self, request: ExpansionRequest) -> Expansion:
        """Returns the expansion of `request` from whichever expander serves it."""
        return self.pool.call("expand", request)
