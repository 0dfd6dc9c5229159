"""Several judges on one device: the checks of queued candidates overlap, timing takes turns.

A search keeps many candidates in flight, but one Evaluator judges them one at a time, and most of a
verdict is host work (importing, building cases, the referee's comparisons) while the device idles.
`JudgePool` holds k Evaluators, each with its own worker and referee processes, sharing the run's
compile caches and one device gate (device_gate.py): their first cases and correctness checks run at
once, each timing round holds the device alone. Verdicts are the same as one Evaluator's: every check
runs in every judge, and no timed rep ever shares the device.

The first judge to serve starts its worker alone: on a cold cache that worker autotunes the
torch.compile baselines and stores its choices in the run's Inductor cache, which every other judge's
worker then loads, so all judges divide by the same baseline kernels (k workers autotuning at once
could each pick differently, and would contend for the device while benchmarking).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kernelevolve.core.errors import ConfigError, SandboxError
from kernelevolve.core.types import EvalResult
from kernelevolve.eval.config import EvalConfig, for_host, with_judges
from kernelevolve.eval.device_gate import DeviceGate, device_key
from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.eval.platforms import get_platform
from kernelevolve.eval.protocols import WITHDRAW_POLL_S, Withdrawn
from kernelevolve.feed import FeedMeter, Pool
from kernelevolve.tasks.spec import Task

logger = logging.getLogger(__name__)

T = TypeVar("T")


class JudgePool:
    """k Evaluators on one device; `evaluate` is thread-safe and runs on whichever judge is free."""

    def __init__(self, task: Task, *, platform: str, config: EvalConfig, workdir: Path, judges: int,
                 gate_dir: Path | None = None) -> None:
        if judges < 1:
            raise ConfigError(f"eval.judges_per_device must be at least 1, got {judges}")
        if config.case_memory_fraction > 0:  # every judge's worker and referee fill the same device
            config = dataclasses.replace(config, case_memory_fraction=config.case_memory_fraction / judges)
        self.config = config
        self.judges: list[Evaluator] = []
        self.best_ms: dict[str, float] = {}  # per timed shape, over every judge (adaptive timing's bar)
        self._free: queue.SimpleQueue[Evaluator] = queue.SimpleQueue()
        self._first_start = threading.Lock()
        self.meter = FeedMeter(eval_slots=judges, expand_slots=1)  # the judges' load (no expansions here)
        self._started = False  # a worker of this pool has started (the baselines are in the run's cache)
        self._withdrawn = threading.Event()  # set by withdraw_waiting: no waiting candidate takes a judge any more
        try:
            for _ in range(judges):
                judge = Evaluator(task, platform=platform, config=config, workdir=workdir,
                                  gate=DeviceGate(device_key(platform), gate_dir))  # one gate handle each
                judge.best_ms = self.best_ms
                judge.compile_ahead = False  # a search's compile workers (with_precompile) compile every candidate
                self.judges.append(judge)
                self._free.put(judge)
        except BaseException:
            self.close()
            raise

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        """Returns the verdict of the first free judge (waits for one when all k are busy); raises Withdrawn when
        the run gave the candidate back while it waited (withdraw_waiting)."""
        judge = self._take(candidate_id)
        token = self.meter.begin(Pool.EVALUATORS)
        try:
            # the first verdict starts the pool's first worker alone (the others wait for it); later ones run freely
            first = self._alone_if_first(judge, lambda: judge.evaluate(source, candidate_id=candidate_id))
            return first if first is not None else judge.evaluate(source, candidate_id=candidate_id)
        finally:
            self.meter.end(Pool.EVALUATORS, token)
            self._free.put(judge)

    def withdraw_waiting(self) -> None:
        """Gives back every candidate waiting for a free judge, now or later (see protocols.Withdrawing)."""
        self._withdrawn.set()

    def _take(self, candidate_id: str) -> Evaluator:
        """Returns a free judge, waiting in slices so that a withdrawal is seen within WITHDRAW_POLL_S."""
        while not self._withdrawn.is_set():
            try:
                return self._free.get(timeout=WITHDRAW_POLL_S)
            except queue.Empty:
                continue
        raise Withdrawn(f"candidate {candidate_id} was given back while it waited for a free judge")

    def _alone_if_first(self, judge: Evaluator, work: Callable[[], T]) -> T | None:
        """Returns work()'s result, run under the first-start lock while no worker of the pool has started (work
        starts judge's worker, so every judge loads the baselines that first worker autotuned); None without
        running it once a worker has started."""
        if self._started:
            return None
        with self._first_start:
            if self._started:
                return None
            try:
                return work()
            finally:
                self._started = bool(judge.worker_info)  # a worker started (or the next caller tries again)

    def __enter__(self) -> JudgePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warm(self) -> None:
        """Starts the first judge's worker now, in the background, so its start-up (imports, the baselines'
        compile) overlaps the search's first expansions and compiles instead of following them."""
        try:
            judge = self._free.get_nowait()  # taken here, so an evaluate() called next waits for this start
        except queue.Empty:
            return  # every judge is busy: their workers are up
        threading.Thread(target=self._warm_first, args=(judge,), name="judge-warm", daemon=True).start()

    def _warm_first(self, judge: Evaluator) -> None:
        try:
            start = time.monotonic()
            if self._alone_if_first(judge, judge.start) is not None and judge.worker_info:
                logger.info("judge worker started in %.1f s, before the first candidate", time.monotonic() - start)
        except SandboxError as exc:  # the first evaluation starts a worker again and reports its failure
            logger.warning("the judge's worker did not start ahead of the search: %s", exc)
        finally:
            self._free.put(judge)

    def idle(self) -> int:
        """Returns how many judges are free now (a hint: another thread may take one first)."""
        return self._free.qsize()

    @property
    def evaluations(self) -> int:
        """Verdicts given by all judges."""
        return sum(j.evaluations for j in self.judges)

    def close(self) -> None:
        """Stops every judge's processes (idempotent)."""
        for judge in self.judges:
            judge.close()


def device_judge(task: Task, *, platform: str, config: EvalConfig, workdir: Path) -> JudgePool:
    """Returns the judge of one device for a search: a JudgePool of config.judges_per_device judges (auto: see
    eval.config.with_judges)."""
    config = with_judges(config, platform=platform)
    return JudgePool(task, platform=platform, config=config, workdir=workdir, judges=config.judges_per_device)


def describe_load(pool: JudgePool) -> str:
    """Returns the live status's note on what limits a local search: nothing until a whole window has passed,
    then how busy the judges were over it (the meter Ray's fleet diagnosis reads too, kernelevolve/feed.py),
    and when they mostly waited, that candidates (the operator or the compile workers), not the device, are
    what the run waits for."""
    reading, window_s = pool.meter.reading(), pool.meter.window_s
    if reading.observed_s < window_s:
        return ""
    busy = reading.eval_busy
    note = f"judges busy {busy:.0%} over {window_s:.0f} s"
    if busy < 0.5:
        note += ": they wait for candidates (the operator or the compile workers limit this run, not the device)"
    return note


def eval_slots(config: EvalConfig, *, platform: str, concurrency: int) -> int:
    """Returns how many evaluations a search should have running at once on one device's JudgePool.

    Every judge busy, plus one per compile worker: a candidate waiting for its compile does not hold up the
    others, whose compiles finished, behind it. One with concurrency 1, which keeps a run's order of events
    reproducible.
    """
    if concurrency <= 1:
        return 1
    config = for_host(config, platform=platform)
    compiling = config.precompile_workers if not get_platform(platform).interpreter else 0
    return config.judges_per_device + max(0, compiling)
