"""Evaluator actors: one per accelerator, pinned to it by a placement-group bundle.

Each holds one device's judge (a JudgePool of eval.judges_per_device core Evaluators,
wrapped in an EvalPipeline when eval.precompile_workers > 0) and serves up to `eval_batch` candidates at
once: the CPU part (ledger lookup, Python compile of the source, so a syntax error never takes the device,
and the Triton compiles on the pipeline's compile-only workers) runs concurrently on the bundle's CPUs,
while the judge itself — which checks correctness and times in its sandboxed workers, finding the kernels
already in the shared Triton cache — takes the device slot, in the order the compiles finished. The slot
has one permit per judge: k candidates are judged at once, their correctness checks sharing the device
while each timing round holds it alone (the judges' device gate, kernelevolve/eval/device_gate.py, keyed
by the GPU this actor sees). So the next candidates compile and are checked while the current one is
timed, and a candidate queued behind the slot starts the moment a permit frees, without a controller
round trip.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ray

from actors._logging import setup_actor_logging
from actors.metrics import evaluator_metrics
from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.eval import phases
from kernelevolve.eval.config import EvalConfig
from kernelevolve.eval.precompile_pool import with_precompile
from kernelevolve.eval.protocols import Judge, Precompiling

logger = logging.getLogger(__name__)


def verdict_key(candidate_id: str) -> str:
    """Returns the ledger key of a candidate's verdict."""
    return f"verdict_{candidate_id}.json"


def build_evaluator(task_ref: str, platform: str, config: EvalConfig, workdir: str) -> Judge:
    """Returns the device's judge for a task (eval.judges_per_device judges behind one device gate), with its
    compile-only workers when configured (the factory an EvaluatorActor calls on its node)."""
    from kernelevolve.eval.judge_pool import device_judge
    from kernelevolve.tasks import load_task

    task = load_task(task_ref)
    judge = device_judge(task, platform=platform, config=config, workdir=Path(workdir))
    return with_precompile(judge, task, platform=platform, config=config, workdir=Path(workdir))


def precheck(source: str, candidate_id: str, platform: str) -> EvalResult | None:
    """Returns a COMPILE_ERROR verdict for source that is not valid Python, else None (runs off the device)."""
    try:
        compile(source, f"candidate_{candidate_id}.py", "exec")
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        return EvalResult(status=EvalStatus.COMPILE_ERROR, platform=platform,
                          reason=f"not valid Python (line {line}): {exc}", error=str(exc))
    return None


class FifoSlot:
    """A semaphore of `permits` granted in request order (threading.Semaphore promises none): candidates take
    the device in the order they became ready, and none waits behind later arrivals."""

    def __init__(self, permits: int = 1) -> None:
        if permits < 1:
            raise ValueError(f"a device slot needs at least one permit, got {permits}")
        self.permits = permits
        self._cond = threading.Condition()
        self._waiting: collections.deque[object] = collections.deque()
        self._held = 0

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Holds one permit for the block, after everyone who asked earlier."""
        ticket = object()
        with self._cond:
            self._waiting.append(ticket)
            self._cond.wait_for(lambda: self._held < self.permits and self._waiting[0] is ticket)
            self._waiting.popleft()
            self._held += 1
            self._cond.notify_all()  # the next in line may take a permit still free
        try:
            yield
        finally:
            with self._cond:
                self._held -= 1
                self._cond.notify_all()


@ray.remote(concurrency_groups={"control": 2})
class EvaluatorActor:
    """Evaluates candidates on its exclusive device; returns (verdict, evaluator_fault), never raises."""

    def __init__(self, name: str, run_id: str, factory: Callable[[], Judge], ledger: Any, platform: str,
                 judges: int = 1) -> None:
        setup_actor_logging()
        self._name, self._run_id, self._ledger, self._platform = name, run_id, ledger, platform
        self._judge = factory()
        self._device = FifoSlot(judges)  # one permit per judge; each judge's timing holds the device gate alone
        self._busy_s, self._gpu_s, self._first_start, self._done = 0.0, 0.0, None, 0
        self._tags = {"run_id": run_id, "evaluator": name}
        logger.info("%s ready: gpu ids %s, node %s", name, ray.get_gpu_ids(), ray.get_runtime_context().get_node_id())

    @ray.method(concurrency_group="control")  # answers even when every work slot is taken
    def ping(self) -> str:
        """Returns the actor's name once its judge is built (used to see that a restart finished)."""
        return self._name

    def evaluate(self, candidate_id: str, source: str) -> tuple[EvalResult, bool]:
        """Returns the candidate's verdict (from the ledger if it was already judged) and whether the evaluator failed."""
        saved = ray.get(self._ledger.load_work.remote(verdict_key(candidate_id)))
        if saved is not None:
            logger.info("%s: candidate=%s already judged; returning the stored verdict", self._name, candidate_id)
            return EvalResult.from_dict(json.loads(saved)), False
        result = precheck(source, candidate_id, self._platform)
        if result is None:
            try:
                self._compile_ahead(candidate_id, source)
                result = self._on_device(candidate_id, source)
            except Exception as exc:  # actor boundary: an evaluator failure is reported, not raised
                logger.exception("%s failed on candidate=%s", self._name, candidate_id)
                return EvalResult(status=EvalStatus.CRASHED, platform=self._platform,
                                  reason=f"evaluator {self._name} raised {type(exc).__name__}: {exc}"), True
        ray.get(self._ledger.save_work.remote(verdict_key(candidate_id), json.dumps(result.to_dict()).encode()))
        self._done += 1
        evaluator_metrics()["done"].inc(1, tags=self._tags)
        return result, False

    def _compile_ahead(self, candidate_id: str, source: str) -> None:
        """Compiles the candidate's kernels on the bundle's CPUs, outside the device slot (advice only)."""
        if not isinstance(self._judge, Precompiling):
            return
        report = self._judge.precompile(source, candidate_id=candidate_id)
        metrics = evaluator_metrics()
        metrics["precompile_hits" if report.ok else "precompile_misses"].inc(1, tags=self._tags)
        if report.compile_s > 0:  # a Ray Counter refuses inc(0)
            metrics["compile_s"].inc(report.compile_s, tags=self._tags)

    def _on_device(self, candidate_id: str, source: str) -> EvalResult:
        with self._device.hold():
            start = time.monotonic()
            self._first_start = self._first_start or start
            try:
                result = self._judge.evaluate(source, candidate_id=candidate_id)
            finally:
                self._busy_s += time.monotonic() - start
            self._export_phases(result)
            return result

    def _export_phases(self, result: EvalResult) -> None:
        """Exports the verdict's phase seconds and GPU-busy seconds, and the busy fractions so far."""
        metrics = evaluator_metrics()
        busy = float(result.metrics.get(phases.BUSY, 0.0))
        self._gpu_s += busy
        for name, seconds in phases.phase_seconds(result.metrics).items():
            if seconds > 0:  # a Ray Counter refuses inc(0)
                metrics["phase_s"].inc(seconds, tags={**self._tags, "phase": name})
        if busy > 0:
            metrics["gpu_busy_s"].inc(busy, tags=self._tags)
        stats = self.stats()
        metrics["busy"].set(stats["gpu_busy_fraction"], tags=self._tags)
        metrics["slot"].set(stats["slot_fraction"], tags=self._tags)

    @ray.method(concurrency_group="control")
    def stats(self) -> dict[str, Any]:
        """Returns evaluations done, GPU-busy and slot-held fractions since the first evaluation, and where the
        actor runs. gpu_busy_fraction is GPU kernel time over wall time; slot_fraction the share of the slot's
        permits (one per judge) held, i.e. time spent inside evaluate over wall x judges, which is not GPU time."""
        wall = time.monotonic() - self._first_start if self._first_start else 0.0
        pipeline = getattr(self._judge, "stats", None)
        return {**(pipeline() if callable(pipeline) else {}), "name": self._name, "evaluated": self._done,
                "slot_s": self._busy_s, "gpu_busy_s": self._gpu_s, "wall_s": wall,
                "slot_fraction": self._busy_s / (wall * self._device.permits) if wall > 0 else 0.0,
                "judges": self._device.permits,
                "gpu_busy_fraction": self._gpu_s / wall if wall > 0 else 0.0,
                "gpu_ids": [str(g) for g in ray.get_gpu_ids()], "node_id": ray.get_runtime_context().get_node_id()}

    def close(self) -> None:
        """Releases the judge's worker processes."""
        close = getattr(self._judge, "close", None)
        if close is not None:
            close()
