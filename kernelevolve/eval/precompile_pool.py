"""A pool of compile-only workers (precompile/main.py) and the Judge wrapper that runs compiles ahead of the device.

`Precompiler` keeps k sandboxed compile-only workers, one per thread, fed from one queue: k candidates
compile at once on the host's CPUs while the device-holding judge times another. A job that hangs,
crashes or floods memory costs only its own worker (killed, replaced for the next job). A result is
advice: `EvalPipeline` waits for it (or for its failure) and then hands the candidate to the real judge
regardless, which finds the kernels in the shared TRITON_CACHE_DIR instead of compiling them while it
holds the device slot.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from concurrent.futures import CancelledError, Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernelevolve.core.errors import SandboxError
from kernelevolve.core.types import EvalResult
from kernelevolve.eval.config import EvalConfig, for_host, resolve_shape_set
from kernelevolve.eval.platforms import get_platform
from kernelevolve.eval.protocols import WITHDRAW_POLL_S, Judge, PrecompileResult, Withdrawing, Withdrawn
from kernelevolve.eval.redact import credential_values, redact
from kernelevolve.eval.sandbox import PRECOMPILE_MODULE, Reply, ReplyKind, WorkerProcess
from kernelevolve.eval.wire.messages import (
    BadMessage,
    CompileReport,
    InputPlacement,
    PrecompileJob,
    PrecompileStatus,
)

if TYPE_CHECKING:  # annotations only: a Ray evaluator imports this module before it needs torch
    from kernelevolve.tasks.spec import Task

logger = logging.getLogger(__name__)

_FAILED_REPLY = {ReplyKind.TIMEOUT: PrecompileStatus.TIMEOUT}  # every other non-result reply: CRASHED


@dataclasses.dataclass(kw_only=True)
class _Job:
    candidate_id: str
    source: str
    future: Future[PrecompileResult]


class Precompiler:
    """k compile-only workers serving `submit`ted candidates in parallel; `close` stops them."""

    def __init__(self, task: Task, *, platform: str, config: EvalConfig, workdir: Path, workers: int,
                 inputs: InputPlacement = InputPlacement.host) -> None:
        if workers < 1:
            raise ValueError(f"a Precompiler needs at least 1 worker, got {workers}; use none instead (0 = off)")
        self.task, self.config, self.workdir = task, config, Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.platform = get_platform(platform)
        shape_set = resolve_shape_set(config.shape_set, platform)
        shapes = list(task.shapes(shape_set))
        self.shapes = shapes + [s for s in task.shapes(shape_set, heldout=True) if s not in shapes]
        self.inputs = inputs
        self.worker_starts = 0
        self._jobs: dict[str, _Job] = {}
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._live: dict[int, WorkerProcess] = {}  # thread index -> its current worker (for close)
        self._closed = False
        self._threads = [threading.Thread(target=self._serve, args=(i,), name=f"precompile-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, candidate_id: str, source: str) -> Future[PrecompileResult]:
        """Queues a candidate (once per id: a second submit returns the first future)."""
        with self._lock:
            job = self._jobs.get(candidate_id)
            if job is None:
                job = _Job(candidate_id=candidate_id, source=source, future=Future())
                self._jobs[candidate_id] = job
                if self._closed:
                    job.future.cancel()
                else:
                    self._queue.put(job)
            return job.future

    def results(self) -> dict[str, PrecompileResult]:
        """Returns the finished results by candidate id (not yet forgotten)."""
        with self._lock:
            jobs = list(self._jobs.values())
        return {j.candidate_id: j.future.result() for j in jobs if j.future.done() and not j.future.cancelled()}

    def forget(self, candidate_id: str) -> None:
        """Drops a candidate's job (its result was used); a later submit compiles it again."""
        with self._lock:
            self._jobs.pop(candidate_id, None)

    def close(self) -> None:
        """Cancels queued jobs, kills running ones, stops every worker (idempotent)."""
        with self._lock:
            self._closed = True
            live = list(self._live.values())
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.future.cancel()
        for worker in live:
            worker.kill()  # its thread sees the death, closes the worker and exits
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=30)

    def _serve(self, index: int) -> None:
        worker: WorkerProcess | None = self._spawn(index)
        served = 0
        while (job := self._queue.get()) is not None:
            if not job.future.set_running_or_notify_cancel():
                continue
            if worker is not None and served >= self.config.worker_max_evals:
                self._retire(index, worker)  # imported candidates and compiled kernels pile up in a worker
                worker, served = None, 0
            try:
                served = 0 if worker is None or not worker.alive() else served
                worker, result = self._run(index, worker, job)
                served += 1
            except Exception as exc:  # thread boundary: the job's future must always complete
                logger.exception("precompile of candidate=%s failed in the pool", job.candidate_id)
                result = PrecompileResult(candidate_id=job.candidate_id, status=PrecompileStatus.CRASHED,
                                          error=f"pool error {type(exc).__name__}: {exc}")
            job.future.set_result(result)
        self._retire(index, worker)

    def _retire(self, index: int, worker: WorkerProcess | None) -> None:
        """Closes a worker and forgets it (so close() never signals a reaped, maybe reused, pid)."""
        if worker is None:
            return
        with self._lock:
            if self._live.get(index) is worker:
                del self._live[index]
        worker.close()

    def _spawn(self, index: int) -> WorkerProcess | None:
        with self._lock:
            if self._closed:
                return None
            cfg = self.config
            worker = WorkerProcess(task_path=self.task.path, platform=self.platform.name,
                                   env_extra=self.platform.worker_env(), workdir=self.workdir,
                                   address_space_gb=cfg.memory_limit_gb if self.platform.memory_rlimit else 0.0,
                                   memory_limit_gb=cfg.memory_limit_gb, block_network=cfg.block_network,
                                   module=PRECOMPILE_MODULE)
            self._live[index] = worker
            self.worker_starts += 1
        worker.send_hello()  # starts importing torch now, before the first job arrives
        return worker

    def _run(self, index: int, worker: WorkerProcess | None,
             job: _Job) -> tuple[WorkerProcess | None, PrecompileResult]:
        """Returns the worker to keep (None: replace it) and the job's result."""
        if worker is None or not worker.alive():
            self._retire(index, worker)
            worker = self._spawn(index)
        if worker is None:
            return None, PrecompileResult(candidate_id=job.candidate_id, status=PrecompileStatus.CANCELLED)
        if not worker.info:
            try:
                worker.handshake(self.config.worker_start_timeout_s)
            except SandboxError as exc:
                self._retire(index, worker)
                return None, PrecompileResult(candidate_id=job.candidate_id, status=PrecompileStatus.CRASHED,
                                              error=str(exc)[-self.config.error_chars:])
        message = PrecompileJob(candidate_id=job.candidate_id, source=job.source, shapes=list(self.shapes),
                                inputs=str(self.inputs), error_chars=self.config.error_chars)
        reply = worker.request(message.to_wire(), self.config.timeout_s)
        result = self._to_result(job.candidate_id, reply, worker)
        if reply.kind != ReplyKind.RESULT or reply.payload.get("recycle"):
            self._retire(index, worker)
            return None, result
        return worker, result

    def _to_result(self, candidate_id: str, reply: Reply, worker: WorkerProcess) -> PrecompileResult:
        secrets = credential_values()
        if reply.kind != ReplyKind.RESULT:
            detail = f"{reply.kind}: {reply.detail}\n{worker.log_tail()}"[-self.config.error_chars:]
            return PrecompileResult(candidate_id=candidate_id, status=_FAILED_REPLY.get(reply.kind,
                                    PrecompileStatus.CRASHED), error=redact(detail, secrets),
                                    worker_pid=worker.proc.pid)
        try:
            body = CompileReport.from_wire(reply.payload.get("result") or {})
        except BadMessage as exc:  # advice only: a report the harness did not write counts as a crash
            body = CompileReport(status=PrecompileStatus.CRASHED, error=f"malformed report: {exc}")
        try:
            status = PrecompileStatus(body.status)
        except ValueError:
            status = PrecompileStatus.CRASHED
        return PrecompileResult(candidate_id=candidate_id, status=status, compiled=body.compiled,
                                compile_s=float(body.compile_s),
                                error=redact(body.error, secrets),
                                started=_number(reply.payload.get("started")),
                                finished=_number(reply.payload.get("finished")),
                                worker_pid=worker.proc.pid)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


class EvalPipeline:
    """A Judge that compiles candidates on CPU workers before the wrapped judge takes them to the device.

    `prefetch` queues a candidate's compile as soon as it is known (the controller calls it on
    admission); `precompile` waits for it outside the device slot; `evaluate` then runs the real judge,
    whose Triton compiles are cache hits. Every candidate is judged whatever its compile reported: a
    compile error found here is not trusted to fail a candidate (the worker is not the judge's).
    """

    def __init__(self, judge: Judge, precompiler: Precompiler) -> None:
        self.judge = judge
        self.precompiler = precompiler
        self._lock = threading.Lock()
        self.hits = 0  # compiled without error before the judge took the candidate
        self.misses = 0  # failed, timed out, crashed or cancelled: the judge compiles (some) kernels itself
        self.compile_s = 0.0  # seconds spent compiling in the workers
        self.wait_s = 0.0  # seconds candidates waited for their compile before the judge took them
        self._counted: set[str] = set()  # candidates whose report is in the counts (until evaluated)
        self._withdrawn = threading.Event()  # set by withdraw_waiting: no candidate reaches a judge any more

    def withdraw_waiting(self) -> None:
        """Gives back every candidate not yet on a judge: its evaluate() raises Withdrawn (see protocols)."""
        self._withdrawn.set()
        if isinstance(self.judge, Withdrawing):  # and those past their compile, waiting for a free judge
            self.judge.withdraw_waiting()

    def prefetch(self, source: str, *, candidate_id: str) -> None:
        """Queues the candidate's compile without waiting."""
        self.precompiler.submit(candidate_id, source)

    def precompile(self, source: str, *, candidate_id: str) -> PrecompileResult:
        """Returns the candidate's compile report, queuing it first if it was never prefetched."""
        start = time.monotonic()
        future = self.precompiler.submit(candidate_id, source)
        deadline = start + self.precompiler.config.timeout_s * 2 + 60
        try:
            while True:  # in slices, so a withdrawal (a stopping run) does not wait for a slow compile
                if self._withdrawn.is_set():
                    raise Withdrawn(f"candidate {candidate_id} was given back while its compile ran")
                try:
                    result = future.result(timeout=min(WITHDRAW_POLL_S, max(0.0, deadline - time.monotonic())))
                    break
                except TimeoutError:  # the pool's own timeout should come first; never hold the judge back longer
                    if time.monotonic() >= deadline:
                        result = PrecompileResult(candidate_id=candidate_id, status=PrecompileStatus.TIMEOUT)
                        break
        except CancelledError:
            result = PrecompileResult(candidate_id=candidate_id, status=PrecompileStatus.CANCELLED)
        self._record(result, time.monotonic() - start)
        return result

    def _record(self, result: PrecompileResult, waited_s: float) -> None:
        with self._lock:
            self.wait_s += waited_s
            if result.candidate_id in self._counted:
                return
            self._counted.add(result.candidate_id)
            self.compile_s += result.compile_s
            self.hits += result.ok
            self.misses += not result.ok
        if not result.ok:  # the kernels it compiled before it stopped are handed over all the same
            done = f"{result.compiled} kernel(s) handed over, the judge compiles the rest" if result.compiled \
                else "the judge compiles it"
            logger.info("precompile of candidate=%s: %s (%s): %s", result.candidate_id, result.status, done,
                        (result.error or "").splitlines()[:1])

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        """Returns the wrapped judge's verdict, after the candidate's compile finished (or failed).

        A compile still queued (no worker has started it) is cancelled instead of waited for when a judge is free
        now: compiling in its own worker beats idling the device behind the compile queue. When every judge is busy
        (more candidates in flight than judges) it waits for its compile, and the judges serve candidates in the
        order their compiles finish, so one slow compile holds up only its own candidate.
        """
        idle = getattr(self.judge, "idle", None)
        try:
            if (idle is None or idle() > 0) and self.precompiler.submit(candidate_id, source).cancel():
                self._record(PrecompileResult(candidate_id=candidate_id, status=PrecompileStatus.CANCELLED), 0.0)
            else:
                self.precompile(source, candidate_id=candidate_id)
        finally:
            self.precompiler.forget(candidate_id)
        if self._withdrawn.is_set():
            raise Withdrawn(f"candidate {candidate_id} was given back before a judge took it")
        with self._lock:
            self._counted.discard(candidate_id)
        return self.judge.evaluate(source, candidate_id=candidate_id)

    def stats(self) -> dict[str, float]:
        """Returns precompile hits, misses, compile seconds and seconds waited."""
        with self._lock:
            return {"precompile_hits": float(self.hits), "precompile_misses": float(self.misses),
                    "precompile_compile_s": self.compile_s, "precompile_wait_s": self.wait_s}

    def close(self) -> None:
        """Stops the compile workers, then the wrapped judge."""
        logger.info("precompile: %s", ", ".join(f"{k} {v:.1f}" for k, v in self.stats().items()))
        self.precompiler.close()
        close = getattr(self.judge, "close", None)
        if close is not None:
            close()


def with_precompile(judge: Judge, task: Task, *, platform: str, config: EvalConfig, workdir: Path) -> Judge:
    """Returns `judge` wrapped in an EvalPipeline of config.precompile_workers compile-only workers.

    The judge is returned as is when precompile is off (0 workers) or the platform runs Triton's
    interpreter (nothing to compile). `workdir` must be the judge's own, so both share one Triton cache.
    """
    config = for_host(config, platform=platform)  # auto: sized to this host (a Ray driver resolved it before, see for_cluster)
    if config.precompile_workers <= 0 or get_platform(platform).interpreter:
        return judge
    precompiler = Precompiler(task, platform=platform, config=config, workdir=workdir,
                              workers=config.precompile_workers)
    return EvalPipeline(judge, precompiler)
