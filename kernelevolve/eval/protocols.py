"""Interfaces of the judge: what the search asks of it (Judge, and the optional extras Prefetching and Precompiling
with the PrecompileResult it returns), its pluggable parts (a Platform, one device family, and its Timer; the
device Gate) and the worker's line to the evaluator (Converse).

This module is imported by the evaluator and by the sandboxed processes alike (tests/test_style.py), so it imports
only core and the wire (eval/wire/), never either side's code: that is why PrecompileResult, built by the
evaluator-side precompile_pool.py, is defined here rather than there."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kernelevolve.core.types import EvalResult
from kernelevolve.eval.wire.messages import NextStep, PrecompileStatus

if TYPE_CHECKING:  # only annotations: the controller and the expanders import this module, and need no torch
    import torch


@runtime_checkable
class Judge(Protocol):
    """What the search (kernelevolve.controller) asks of the judge: the whole surface is one verdict per source.

    Implemented by the Evaluator, by the wrappers that stand in front of it (precompile_pool.EvalPipeline,
    judge_pool.JudgePool) and, under Ray, by actors/pool.RemoteJudge. Failures of the candidate are data
    in the EvalResult, never an exception.
    """

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        """Returns the verdict on one candidate source."""
        ...


@runtime_checkable
class Prefetching(Protocol):
    """A judge that starts work on a candidate (compiling it off the device) as soon as it is queued.

    The controller calls `prefetch` when it queues a candidate; precompile_pool.EvalPipeline implements it.
    """

    def prefetch(self, source: str, *, candidate_id: str) -> None:
        """Starts preparing the candidate without waiting; its evaluate() comes later."""
        ...


WITHDRAW_POLL_S = 0.25  # how often a candidate waiting (for its compile, for a free judge) looks for a withdrawal


class Withdrawn(Exception):  # noqa: N818 - not an error: the run stopped before the candidate reached a judge
    """Raised by evaluate() for a candidate given back unjudged (withdraw_waiting); it stays pending for a resume."""


@runtime_checkable
class Withdrawing(Protocol):
    """A judge whose queued candidates can be given back before a judge takes them (a wall-clock stop, SIGTERM).

    Candidates waiting for their compile or for a free judge hold no judge yet, and a slow compile (minutes, for a
    huge block that ptxas unrolls) would hold the stop that long; precompile_pool.EvalPipeline and
    judge_pool.JudgePool implement it. A judge stays withdrawn: it belongs to a run that is stopping.
    """

    def withdraw_waiting(self) -> None:
        """Makes every evaluate() not yet on a judge, now or later, raise Withdrawn."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrecompileResult:
    """What one compile-only job reported (advice only, never part of a verdict).

    Attributes:
        compiled: distinct Triton kernels compiled (or found in the cache) by the job.
        compile_s: seconds spent inside Triton compiles, in the worker.
        started, finished: time.monotonic() in the worker at job start and end (one host: comparable
            across processes); None when the worker gave no result.
    """

    candidate_id: str
    status: PrecompileStatus
    compiled: int = 0
    compile_s: float = 0.0
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    worker_pid: int | None = None

    @property
    def ok(self) -> bool:
        """True when every shape's forward compiled without an error."""
        return self.status is PrecompileStatus.OK


@runtime_checkable
class Precompiling(Protocol):
    """A judge that compiles a candidate off the device first: `precompile` blocks until that is done.

    Callers that hold an exclusive device (actors/evaluator.py) call it before taking the device slot;
    precompile_pool.EvalPipeline implements it.
    """

    def precompile(self, source: str, *, candidate_id: str) -> PrecompileResult: ...


class Gate(Protocol):
    """What a judge needs of a device gate (device_gate.DeviceGate, or OpenGate where the judge owns its device)."""

    waited_s: float

    def shared(self) -> contextlib.AbstractContextManager[float]: ...  # yields the seconds this hold waited

    def exclusive(self) -> contextlib.AbstractContextManager[float]: ...

    def close(self) -> None: ...


class Converse(Protocol):
    """The worker's line to the evaluator (worker/main.py builds it, worker/job.py calls it between phases).

    Sends an interim report (phase, partial verdict, outputs) to the evaluator and returns its answer.
    """

    def __call__(self, phase: str, result: EvalResult, outputs: list[dict[str, Any]]) -> NextStep: ...


@runtime_checkable
class Timer(Protocol):
    """Times several callables interleaved (rep i of each before rep i+1 of any), so drift hits all alike.

    `measure` returns, per name, the per-rep times in milliseconds. `label` says what the times are
    ("cuda_events", "interpreter_wall_clock", ...) and is stored with the verdict. before[name](rep) runs
    ahead of that name's rep outside the timed region; every[name] = k times that name on every k-th rep
    only (a cached baseline's probe); stop(times) is asked at adaptive.check_due reps and ends the reps
    when it returns True.
    """

    label: str

    def measure(self, fns: dict[str, Callable[[], Any]],
                before: dict[str, Callable[[int], None]] | None = None, *,
                every: dict[str, int] | None = None,
                stop: Callable[[dict[str, list[float]]], bool] | None = None) -> dict[str, list[float]]: ...


@runtime_checkable
class Platform(Protocol):
    """The whole surface a device family gives the judge; a new accelerator is one file in platforms/.

    Attributes:
        name: the platform name stored in EvalResult.platform ("cpu", "cuda", "rocm", "mtia").
        interpreter: True when Triton runs under TRITON_INTERPRET=1 (wall-clock interpreter timings,
            no device-time integrity numbers).
        memory_rlimit: True when an RLIMIT_AS may be applied to workers (never on GPU drivers).
    worker_env() is called in the evaluator; everything else runs inside the worker process.
    """

    name: str
    interpreter: bool
    memory_rlimit: bool

    def worker_env(self) -> dict[str, str]: ...

    def device(self) -> torch.device: ...

    def synchronize(self) -> None: ...

    def poison_allocator(self) -> None: ...

    def make_timer(self, *, warmup_ms: float, rep_ms: float, reps: int, flush_mb: float) -> Timer: ...

    def current_stream(self) -> int | None: ...
