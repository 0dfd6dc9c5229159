"""Interfaces of the judge: what the search asks of it (Judge), and its pluggable parts: a Platform (one device
family) and its Timer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch

from kernelevolve.core.types import EvalResult


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
