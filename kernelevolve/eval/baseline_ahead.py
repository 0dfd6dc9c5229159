"""Compiling a starting worker's torch.compile baselines ahead of it, in several processes at once.

Max-autotune of one shape is mostly single-threaded host work (dynamo, lowering, compiling and benchmarking the
autotune choices): a task's shapes compiled one after another took 40-63 s of a worker's first verdict on an H100
host with 16 cores. With eval.baseline_compile_procs > 1 the evaluator starts child processes
(worker/baseline_child.py) that compile groups of shapes side by side into the starting worker's private cache,
before it is told to warm up; the worker then loads each baseline from there.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time

from kernelevolve.eval.sandbox import WorkerProcess, kill_group

logger = logging.getLogger(__name__)

BASELINE_CHILD_MODULE = "kernelevolve.eval.worker.baseline_child"
MAX_COMPILE_THREADS = 4  # per child: a Ray node's affinity is all of it, shared by one evaluator per device


def compile_ahead(worker: WorkerProcess, shapes: list[str], baseline: str, procs: int, timeout_s: float) -> None:
    """Compiles the shapes' baselines into `worker`'s private cache in up to `procs` child processes at once (one
    group of shapes each), before its warm stage.

    The children run no candidate code (like the referee), and the worker has run none yet, so they are trusted
    and are not jailed: a child of the jailed worker could not start CUDA (the jail lets a process write only its
    own threads' proc files, see sandbox.jail_writable). They get the worker's environment (its private caches, no
    secrets) and write its log. A child that fails or outlives `timeout_s` costs only time: the worker compiles
    what is missing itself, and meets any real error there.
    """
    groups = [shapes[i::procs] for i in range(min(procs, len(shapes)))]
    args = ["-m", BASELINE_CHILD_MODULE, str(worker.task_path), worker.platform, baseline]
    env = {"TORCHINDUCTOR_COMPILE_THREADS": str(compile_threads(len(groups)))}
    children: list[tuple[list[str], subprocess.Popen]] = []
    try:
        for group in groups:
            children.append((group, worker.start_trusted([*args, *group], env)))
        deadline = time.monotonic() + timeout_s
        for group, child in children:
            try:
                code: int | str = child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                code = "timeout"
            if code != 0:
                logger.warning("compiling the baselines of %s ahead of worker pid=%d failed (%s); the worker "
                               "compiles them itself", group, worker.proc.pid,
                               f"exit {code}" if code != "timeout" else code)
    finally:  # a timeout, an exception or a SIGTERM while waiting: no child outlives this call
        for _, child in children:
            if child.poll() is None:
                kill_group(child, "baseline compile child")


def compile_threads(children: int) -> int:
    """Returns Inductor's compile threads for each of `children` processes: this process's CPUs shared out.

    A judge worker compiles with one thread (CudaPlatform.worker_env: no pool of compile subprocesses inside the
    jail); a child is not jailed and may compile a shape's autotune choices side by side. On the H100 host
    (16 cores) one thread per child made each interformer_pffn shape take 22-26 s with four children, against
    8-10 s for four processes with Inductor's default threads (benchmarks/bench_baseline_compile.py).
    """
    return max(1, min(MAX_COMPILE_THREADS, len(os.sched_getaffinity(0)) // max(children, 1)))
