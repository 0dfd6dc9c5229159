"""Compiling a starting worker's torch.compile baselines ahead of it, in several processes at once.

Max-autotune of one shape is mostly single-threaded host work (dynamo, lowering, compiling and benchmarking the
autotune choices): a task's shapes compiled one after another took 40-63 s of a worker's first verdict on an H100
host with 16 cores. With eval.baseline_compile_procs > 1 the evaluator starts child processes
(worker/baseline_child.py) that compile groups of shapes side by side into the starting worker's private cache,
and the worker loads each baseline from there.

The children overlap the worker's own start twice over (H100 host: a fresh process spends ~10 s importing torch,
Dynamo and Inductor before it compiles anything, benchmarks/diag_process_start.py):
- they start with the worker, import while it does, and wait for `go` (AheadCompile.go) before compiling: the
  evaluator sends it once it holds the device's gate, as max-autotune benchmarks on the device;
- each child marks a shape done as soon as its baseline is in the cache (worker/baseline_child.py mark_path), and
  the worker loads the shapes in the order their marks appear, while the children compile the rest. A child that
  fails, hangs past its time or is killed gets its shapes marked by the evaluator, and the worker compiles what is
  missing itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from kernelevolve.eval import kernel_cache
from kernelevolve.eval.config import EvalConfig
from kernelevolve.eval.sandbox import WorkerProcess, kill_group
from kernelevolve.eval.wire.ahead import AHEAD_DIR, GO, MARKS_ENV, mark_path

logger = logging.getLogger(__name__)

BASELINE_CHILD_MODULE = "kernelevolve.eval.worker.baseline_child"
MAX_COMPILE_THREADS = 4  # per child: a Ray node's affinity is all of it, shared by one evaluator per device
POLL_S = 0.05


class AheadCompile:
    """The children compiling one starting worker's baselines: started with the worker, told to compile by `go`,
    reaped (and every shape marked) by `close`.

    The children run no candidate code (like the referee), and the worker has run none yet, so they are trusted
    and are not jailed: a child of the jailed worker could not start CUDA (the jail lets a process write only its
    own threads' proc files, see sandbox.jail_writable). They get the worker's environment (its private caches, no
    secrets) and write its log. A child that fails or outlives `timeout_s` (counted from `go`) costs only time.
    """

    def __init__(self, worker: WorkerProcess, shapes: list[str], baseline: str, procs: int,
                 timeout_s: float) -> None:
        self.groups = [shapes[i::procs] for i in range(min(procs, len(shapes)))]
        self.marks = Path(worker.tmpdir) / AHEAD_DIR
        self.timeout_s = timeout_s
        self.pid = worker.proc.pid
        self.children: list[tuple[list[str], subprocess.Popen]] = []
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.marks.mkdir(exist_ok=True)
        args = ["-m", BASELINE_CHILD_MODULE, str(worker.task_path), worker.platform, baseline]
        env = {"TORCHINDUCTOR_COMPILE_THREADS": str(compile_threads(len(self.groups))), MARKS_ENV: str(self.marks)}
        try:
            for group in self.groups:
                self.children.append((group, worker.start_trusted([*args, *group], env, stdin=subprocess.PIPE)))
        except BaseException:  # a failed start or a SIGTERM while starting: no child outlives this
            self.close()
            raise

    def go(self) -> None:
        """Lets every child compile (the device's gate is held); a watcher marks the shapes of a child that ends
        without having marked them, and stops a child at its time."""
        for _, child in self.children:
            try:
                child.stdin.write(GO)
                child.stdin.close()
            except OSError as exc:  # died while importing: the watcher marks its shapes
                logger.warning("baseline compile child pid=%d of worker pid=%d is gone before compiling (%s)",
                               child.pid, self.pid, exc)
        self._watcher = threading.Thread(target=self._watch, name=f"baselines-ahead-{self.pid}", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        pending = list(self.children)
        while pending and not self._stop.is_set():
            for group, child in list(pending):
                code = child.poll()
                if code is None and time.monotonic() < deadline:
                    continue
                if code is None:
                    kill_group(child, "baseline compile child")
                if code != 0:
                    logger.warning("compiling the baselines of %s ahead of worker pid=%d failed (%s); the worker "
                                   "compiles them itself", group, self.pid,
                                   f"exit {code}" if code is not None else "timeout")
                self._mark(group)
                pending.remove((group, child))
            self._stop.wait(POLL_S)

    def wait(self, timeout_s: float) -> bool:
        """Waits up to timeout_s for every child to end and its shapes to be marked; True when they have."""
        if self._watcher is None:
            return False
        self._watcher.join(timeout_s)
        return not self._watcher.is_alive()

    def close(self) -> None:
        """Stops the watcher, kills every child still running and marks every shape: nothing outlives this call and
        the worker never waits for a child that is gone."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
        for group, child in self.children:
            with contextlib.suppress(OSError):  # never let go: its end of input (a child waiting for go exits)
                child.stdin.close()
            if child.poll() is None:
                kill_group(child, "baseline compile child")
            self._mark(group)

    def _mark(self, group: list[str]) -> None:
        for shape in group:
            try:
                mark_path(self.marks, shape).touch()
            except OSError as exc:  # the worker's dir is gone (it was closed): nobody waits for the mark
                logger.debug("could not mark %s compiled ahead: %s", shape, exc)


def compiles_ahead(config: EvalConfig, platform: Any, shapes: list[str], workdir: Path) -> bool:
    """True when a new worker's torch.compile baselines are compiled ahead of it by child processes
    (eval.baseline_compile_procs > 1, several shapes, a device, and no warm snapshot to load them from)."""
    return str(config.baseline) == "compile" and not platform.interpreter and config.baseline_compile_procs > 1 \
        and len(shapes) > 1 and not kernel_cache.has_warm(workdir)


def compile_threads(children: int) -> int:
    """Returns Inductor's compile threads for each of `children` processes: this process's CPUs shared out.

    A judge worker compiles with one thread (CudaPlatform.worker_env: no pool of compile subprocesses inside the
    jail); a child is not jailed and may compile a shape's autotune choices side by side. On the H100 host
    (16 cores) one thread per child made each interformer_pffn shape take 22-26 s with four children, against
    8-10 s for four processes with Inductor's default threads (benchmarks/bench_baseline_compile.py).
    """
    return max(1, min(MAX_COMPILE_THREADS, len(os.sched_getaffinity(0)) // max(children, 1)))
