"""Evaluator: judges candidate sources for one task on one platform through sandboxed worker processes."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from kernelevolve.core.errors import ProfilerError, SandboxError
from kernelevolve.core.types import EvalResult
from kernelevolve.eval import baseline_cache as bc
from kernelevolve.eval import kernel_cache
from kernelevolve.eval.baseline_ahead import AheadCompile, compiles_ahead
from kernelevolve.eval.cases import tensor_bytes
from kernelevolve.eval.compile_ahead import FirstCompile
from kernelevolve.eval.config import EvalConfig, resolve_shape_set
from kernelevolve.eval.conversation import Conversation, Ended, RefereeFailed, Verdict, failed_as, result_of
from kernelevolve.eval.device_gate import DeviceGate, device_key
from kernelevolve.eval.phases import PhaseClock
from kernelevolve.eval.platforms import get_platform
from kernelevolve.eval.profile.run import choose_tool, profile_candidate
from kernelevolve.eval.protocols import Gate
from kernelevolve.eval.redact import credential_values, redact
from kernelevolve.eval.sandbox import REFEREE_MODULE, ReplyKind, WorkerProcess
from kernelevolve.eval.wire.messages import EvalJob, Hello, Ready
from kernelevolve.tasks.spec import Task

logger = logging.getLogger(__name__)


class Evaluator:
    """Evaluates candidates one at a time in a persistent sandboxed worker, replaced whenever it is suspect.

    Seeds are drawn fresh (secrets) for every evaluation, so a candidate cannot tune itself to them.
    The device is shared through `gate` (device_gate.py, by default this host's gate of the device):
    worker start-up and correctness checks hold it shared, timing holds it alone.
    """

    def __init__(self, task: Task, *, platform: str, config: EvalConfig, workdir: Path,
                 gate: Gate | None = None) -> None:
        self.task = task
        self.config = config
        self.platform = get_platform(platform)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        shape_set = resolve_shape_set(config.shape_set, platform)
        self.shapes = list(task.shapes(shape_set))
        self.heldout = [s for s in task.shapes(shape_set, heldout=True) if s not in self.shapes]
        self._worker: WorkerProcess | None = None
        self._spare: WorkerProcess | None = None
        self._referee: WorkerProcess | None = None
        self._referee_starting: WorkerProcess | None = None  # spawned, handshake pending
        self._worker_starting: WorkerProcess | None = None  # spawned, handshake pending
        self._ahead: AheadCompile | None = None  # child processes compiling the starting worker's baselines
        # a cold worker's candidate compiles beside its start (compile_ahead.py); off behind a search's compile workers
        self.compile_ahead = config.precompile_workers != 0 and not self.platform.interpreter
        self._first: FirstCompile | None = None
        self.referee_starts = 0
        self._served = 0
        self.evaluations = 0
        self.worker_starts = 0
        self.worker_info: Ready | None = None  # the latest worker's ready message (device, versions)
        self.last_baselines: dict[str, dict[str, Any]] = {}  # per shape: cached vs measured, of the last verdict
        use_cache = bool(config.baseline_cache) and not self.platform.interpreter
        self._cache = bc.BaselineCache(config.baseline_cache) if use_cache else None
        self._keys = bc.ShapeKeys(task, self.shapes, str(config.baseline))
        self._hw_tool = choose_tool(str(config.hw_profiler), platform)  # a named tool that is missing fails here
        self.best_ms: dict[str, float] = {}  # per timed shape: the fastest candidate time judged ok here
        self.best_fitness = 0.0  # the highest fitness judged ok here
        self._clock = PhaseClock()  # this verdict's own phases: worker/referee start-up, recording
        self.gate = gate if gate is not None else DeviceGate(device_key(self.platform.name))
        self._host_limit_gb: float | None = None  # host_memory_gb, once computed
        self._machine_cache = None if self.platform.interpreter else \
            kernel_cache.machine_snapshot(config.compile_cache, bc.file_sha256(task.path))
        if self._machine_cache is not None:
            self._share_compiled(kernel_cache.seed_run, self._machine_cache, self.workdir)
        if not task.builds_on_device and not self.platform.interpreter:
            logger.warning("task %s builds its inputs on the host (make_inputs has no `device` parameter): every "
                           "case, and every timed call's fresh inputs, is built there and copied, which slows the "
                           "judge; give make_inputs a `device` parameter", task.name)

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stops the worker and referee processes (idempotent)."""
        self._retire()
        self._retire_referee()
        self._close_starting_referee()
        if self._worker_starting is not None:
            self._worker_starting.kill()
        self._close_ahead()
        if self._first is not None:
            self._first.close()
        if self._spare is not None:
            self._spare.close()
            self._spare = None
        self.gate.close()

    def _close_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None  # close() from another thread may run this at the same time
        if ahead is not None:
            ahead.close()

    def _retire_referee(self) -> None:
        if self._referee is not None:
            self._referee.close()
            self._referee = None

    def _close_starting_referee(self) -> None:
        if self._referee_starting is not None:
            self._referee_starting.close()
            self._referee_starting = None

    def _retire(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        """Returns the verdict on one candidate source; candidate failures are verdicts, never exceptions."""
        start = time.perf_counter()
        self.evaluations += 1
        self._clock.reset()
        served_before = self._worker is not None and self._served > 0
        if self.compile_ahead and not (self._worker is not None and self._worker.alive()):
            if self._first is not None:
                self._first.close()
            self._first = FirstCompile(self.task, platform=self.platform.name, config=self.config,
                                       workdir=self.workdir, source=source, candidate_id=candidate_id)
        reply, log_tail = self._run(self._job(source, candidate_id))
        if failed_as(reply, ReplyKind.DIED) and served_before:  # maybe the previous candidate's doing: once more, fresh
            logger.warning("worker died on candidate=%s after serving others; retrying in a fresh worker: %s",
                           candidate_id, reply.detail)
            reply, log_tail = self._run(self._job(source, candidate_id))
        if failed_as(reply, ReplyKind.HARNESS_ERROR):  # possibly a worker left bad by an earlier candidate: retry fresh
            logger.warning("harness error for candidate=%s, retrying in a fresh worker: %s", candidate_id, reply.detail)
            reply, log_tail = self._run(self._job(source, candidate_id))
            if failed_as(reply, ReplyKind.HARNESS_ERROR):
                raise SandboxError(f"the evaluation harness failed twice on task {self.task.name}: {reply.detail}")
        result = result_of(reply, log_tail, self.config.error_chars, self.platform.name)
        wall = time.perf_counter() - start
        metrics = dict(result.metrics, **self._clock.report(), eval_seconds=wall)
        if "gpu_busy_s" in metrics and wall > 0:
            metrics["device_busy_fraction"] = metrics["gpu_busy_s"] / wall
        secrets_seen = credential_values()
        mismatch = result.mismatch
        if mismatch is not None:
            mismatch = dataclasses.replace(mismatch, detail=redact(mismatch.detail, secrets_seen) or "")
        result = EvalResult(status=result.status, reason=redact(result.reason, secrets_seen) or "",
                            error=redact(result.error, secrets_seen),
                            fitness=result.fitness if result.ok else 0.0, timings=result.timings if result.ok else [],
                            mismatch=mismatch, metrics=metrics, platform=self.platform.name)
        with self._clock.phase("record"):
            result = self._check_baselines(result)
            self._learn_best(result)
        result.metrics.update(self._clock.report())
        if self._hw_tool is not None and result.ok:
            result = self._hw_profile(result, source, candidate_id)
        logger.info("evaluated candidate=%s status=%s fitness=%.3f", candidate_id, result.status, result.fitness)
        return result

    def _hw_profile(self, result: EvalResult, source: str, candidate_id: str) -> EvalResult:
        """Adds the hardware profiler's metrics (ncu.*, proton.*, rocprof.*) to an ok verdict; advisory."""
        try:
            found = profile_candidate(self.task.path, source, platform=self.platform.name, tool=self._hw_tool,
                                      shapes=self.shapes, workdir=self.workdir,
                                      timeout_s=self.config.hw_profile_timeout_s)
        except ProfilerError as exc:
            logger.warning("hardware profile of candidate=%s failed: %s", candidate_id, exc)
            return result
        return dataclasses.replace(result, metrics={**result.metrics, **found})

    def _learn_best(self, result: EvalResult) -> None:
        """Keeps the fastest ok time per shape (adaptive timing stops candidates clearly slower than it, and only a
        suspicious speedup faster than it is re-timed). A re-timed verdict counts with its slower round's timings:
        a speedup that held twice is the best to beat, and one that did not is not kept at its fluke."""
        if not result.ok:
            return
        self.best_fitness = max(self.best_fitness, result.fitness)
        for t in result.timings:
            if t.candidate_ms > 0 and t.candidate_ms < self.best_ms.get(t.shape, float("inf")):
                self.best_ms[t.shape] = t.candidate_ms

    def _check_baselines(self, result: EvalResult) -> EvalResult:
        """Flags a verdict whose interleaved baselines stray from the cached ones, and records them (devices only)."""
        self.last_baselines = {}
        if self._cache is None or not result.ok or not result.timings:
            return result
        info = self.worker_info or Ready()  # no worker yet: "unknown" device and versions
        keys = self._keys.keys(info.device_name, info.torch, info.triton)
        try:
            result, self.last_baselines = bc.check_result(result, keys, self._cache,
                                                          self.config.baseline_drift_tolerance)
        except OSError as exc:  # the cache is advisory: a read-only home must not fail an evaluation
            logger.warning("baseline cache %s not usable: %s", self._cache.path, exc)
        return result

    def _job(self, source: str, candidate_id: str) -> EvalJob:
        cfg = self.config
        return EvalJob(candidate_id=candidate_id, source=source, shapes=list(self.shapes), heldout=list(self.heldout),
                       seeds=[secrets.randbits(31) for _ in range(cfg.seeds)], extra_seed=secrets.randbits(31),
                       extra_distribution=cfg.extra_distribution, timing=True, baseline=str(cfg.baseline),
                       profile=cfg.profile, warmup_ms=cfg.warmup_ms, rep_ms=cfg.rep_ms, reps=cfg.interpreter_reps,
                       flush_mb=cfg.l2_flush_mb, min_triton_fraction=cfg.min_triton_fraction,
                       suspicious_speedup=cfg.suspicious_speedup, error_chars=cfg.error_chars,
                       timing_seed=secrets.randbits(63), baseline_refresh=cfg.baseline_refresh,
                       baseline_probe_tolerance=cfg.baseline_probe_tolerance, slower_margin=cfg.slower_margin,
                       case_memory_fraction=cfg.case_memory_fraction,
                       best_ms=dict(self.best_ms) if cfg.slower_margin >= 0 else {}, best_fitness=self.best_fitness)

    def _run(self, job: EvalJob) -> tuple[Ended, str]:
        try:
            worker, reply = self._talk(job)
        except RefereeFailed as exc:  # no verdict yet: once more, with a fresh referee and a fresh worker
            logger.warning("referee failed, starting a fresh one: %s", exc)
            self._retire_referee()
            self._retire()
            try:
                worker, reply = self._talk(job)
            except RefereeFailed:
                self._retire()  # mid-job, waiting for an answer that will not come
                raise
        self._served += 1
        log_tail = worker.log_tail()
        recycle = not isinstance(reply, Verdict) or reply.recycle
        if recycle or self._served >= self.config.worker_max_evals:
            self._retire()
        return reply, log_tail

    def _ensure_worker(self) -> WorkerProcess:
        if self._worker is not None and self._worker.alive():
            return self._worker
        self._retire()
        with self._clock.phase("worker_start"):
            fresh = self._spare is None  # a spare started earlier, outside this phase
            worker, self._spare = (self._spare or self._spawn()), None
            self._worker_starting = worker  # close() from another thread (a run stopping) kills it mid-start
            try:
                if self._cache is not None:
                    self._keys.learn()  # while the worker imports, not after its first verdict
                ahead_s = self._ahead.timeout_s if self._ahead is not None else 0.0  # the children's own budget
                ready = worker.handshake(self.config.worker_start_timeout_s + ahead_s,
                                         device_work=functools.partial(self._baselines_on_device, worker))
            except BaseException:  # SandboxError, and a SIGTERM or Ctrl-C while it starts: nothing left running
                self._close_ahead()  # before the worker's dir goes: a child would write into it again
                worker.close()
                raise
            finally:
                self._worker_starting = None
            for stage, seconds in ready.start.items() if fresh else ():  # where the start-up went
                self._clock.carve(f"worker_start.{stage.removesuffix('_s')}", float(seconds))
            if self._machine_cache is not None:  # the handshake published its baselines to the run's snapshot
                self._share_compiled(kernel_cache.publish_machine, self.workdir, self._machine_cache)
        self._worker, self._served = worker, 0
        self.worker_info = ready
        if self.config.spare_worker and self.platform.interpreter:
            self._spare = self._spawn()  # warms up while this one serves, so a recycle costs no start-up
        return worker

    def _share_compiled(self, copy: Callable[[Path, Path], int], source: Path, target: Path) -> None:
        """Runs one copy between the run's warm snapshot and the machine-wide one; a failure costs only start-up
        time later, so it is logged (with the dir and how to turn the cache off), never raised."""
        try:
            copied = copy(source, target)
        except OSError as exc:
            logger.warning("compile cache: could not copy %s to %s (%s); set eval.compile_cache='' to turn the "
                           "machine-wide cache off", source, target, exc)
            return
        if copied:
            logger.info("compile cache: %d files from %s to %s", copied, source, target)

    def start(self) -> tuple[WorkerProcess, WorkerProcess]:
        """Returns a started worker and referee, starting them when none is alive (a new worker compiles, or
        loads from the run's cache, the task's torch.compile baselines)."""
        self._start_referee()  # starts beside the worker's start-up (baselines compiling), not after it
        return self._ensure_worker(), self._ensure_referee()

    @contextlib.contextmanager
    def _baselines_on_device(self, worker: WorkerProcess) -> Iterator[None]:
        """Holds the device gate shared while a starting worker compiles and runs its baselines (max-autotune
        benchmarks them on the device: never beside another judge's timing); its imports need no gate. Child
        processes compiling the baselines ahead (started with the worker, see _spawn) are let go here too."""
        with self.gate.shared() as waited:
            self._clock.carve("gate_wait", waited)
            try:
                if self._ahead is not None:
                    self._ahead.go()
                yield
            finally:  # no child outlives the gate, or writes while the handshake publishes the warm cache
                self._close_ahead()

    def _talk(self, job: EvalJob) -> tuple[WorkerProcess, Ended]:
        cfg = self.config
        first, self._first = self._first, None
        try:
            worker, referee = self.start()
            if first is not None:  # the worker is ready: its first case loads what this compiled
                self._clock.carve("compile_ahead_wait", first.wait())
        finally:
            if first is not None:
                first.close()
        talk = Conversation(worker=worker, referee=referee, timeout_s=cfg.timeout_s,
                            referee_timeout_s=cfg.worker_start_timeout_s, suspicious_speedup=cfg.suspicious_speedup,
                            interpreter=self.platform.interpreter, file_exchange=self._file_exchange, gate=self.gate)
        try:
            return worker, talk.run(job)
        finally:
            if not talk.referee.alive():
                self._retire_referee()

    @property
    def _file_exchange(self) -> bool:
        return self.config.output_transport == "file" or self.platform.device().type != "cuda"

    def _start_referee(self) -> None:
        """Spawns a referee process when none is alive (its handshake waits in _ensure_referee)."""
        if self._referee is not None and self._referee.alive():
            return
        if self._referee_starting is not None and self._referee_starting.alive():
            return
        self._retire_referee()
        self._close_starting_referee()
        self._referee_starting = self._spawn_referee()

    def _ensure_referee(self) -> WorkerProcess:
        if self._referee is not None and self._referee.alive():
            return self._referee
        self._retire_referee()
        starting, self._referee_starting = self._referee_starting, None
        if starting is not None and not starting.alive():
            starting.close()  # died before its handshake: its pipes and log go with it
            starting = None
        referee = starting or self._spawn_referee()
        with self._clock.phase("referee_start"):
            try:
                referee.handshake(self.config.worker_start_timeout_s)
            except SandboxError:
                referee.close()
                raise
        self._referee = referee
        return referee

    def _spawn_referee(self) -> WorkerProcess:
        referee = WorkerProcess(task_path=self.task.path, platform=self.platform.name,
                                env_extra=self.platform.worker_env(), workdir=self.workdir, address_space_gb=0.0,
                                memory_limit_gb=0.0, block_network=False,  # runs no candidate code
                                module=REFEREE_MODULE)
        self.referee_starts += 1
        referee.send_hello()
        return referee

    def host_memory_gb(self) -> float:
        """Returns the worker's host-memory limit on a device: eval.memory_limit_gb, raised by twice the largest
        input set for a task that builds its inputs on the host (sized once, from seed-0 inputs in this
        process). A device task's inputs never live on the host (Task.builds_on_device) and
        eval.case_memory_fraction bounds them on the device; the cpu platform runs small shapes."""
        limit = self.config.memory_limit_gb
        if limit <= 0 or self.platform.interpreter or self.task.builds_on_device:
            return limit
        if self._host_limit_gb is None:
            largest = max((tensor_bytes(self.task.make_inputs(s, 0)) for s in [*self.shapes, *self.heldout]), default=0)
            self._host_limit_gb = limit + 2 * largest / 2**30
        return self._host_limit_gb

    def _spawn(self) -> WorkerProcess:
        cfg = self.config
        host_gb = self.host_memory_gb()
        worker = WorkerProcess(task_path=self.task.path, platform=self.platform.name,
                               env_extra=self.platform.worker_env(), workdir=self.workdir,
                               address_space_gb=host_gb if self.platform.memory_rlimit else 0.0,
                               memory_limit_gb=host_gb, block_network=cfg.block_network,
                               extra_args=("--transport", "file") if self._file_exchange else ())
        ahead = compiles_ahead(cfg, self.platform, self.shapes, self.workdir)
        ahead_s = cfg.worker_start_timeout_s if ahead else 0.0  # the handshake adds it to the worker's own budget
        worker.send_hello(Hello(warm_shapes=list(self.shapes), baseline=str(cfg.baseline), staged=True,
                                ahead_s=ahead_s))
        self.worker_starts += 1
        if ahead:  # they import beside the worker and compile once the gate is held (_baselines_on_device)
            self._close_ahead()
            try:
                self._ahead = AheadCompile(worker, list(self.shapes), str(cfg.baseline), cfg.baseline_compile_procs,
                                           ahead_s)
            except BaseException:
                worker.close()
                raise
        return worker
