"""A cold worker's candidate compiles in a compile-only worker while the worker starts.

A judge's worker starts in 15-23 s on the H100 (torch, Inductor, the task's baselines), and only then compiles the
candidate's Triton kernels: 1-8 s more of the first verdict (interformer_pffn's seed: 8 s of per-shape
specialisations, benchmarks/RESULTS.md). `FirstCompile` hands the candidate to one compile-only worker
(precompile/main.py, the search's compile workers' process) started beside the judge's worker, in the judge's own
workdir, so its kernels land in the Triton cache the worker reads; the worker's first case then loads them.

The judge waits for the compile once its worker is ready, at most as long again as that start took (and never
past the candidate's timeout): a compile that slow is hung or huge, and the worker compiles what is missing itself.
What it compiles is advice, exactly as in a search (precompile_pool.py): the judge runs the candidate whatever the
compile reported, and compiles any kernel missing from the cache itself. A search does not use this: its compile
workers (EvalPipeline, the Ray compile actors) have already compiled every candidate before a judge takes it.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import CancelledError
from pathlib import Path

from kernelevolve.eval.config import EvalConfig
from kernelevolve.eval.precompile_pool import Precompiler
from kernelevolve.tasks.spec import Task

logger = logging.getLogger(__name__)
MIN_WAIT_S = 1.0  # a worker that started at once (warm caches) still gets a second of the compile


class FirstCompile:
    """One candidate compiling in its own compile-only worker; `wait` once the judge's worker is ready, then
    `close` (always: it kills a compile still running)."""

    def __init__(self, task: Task, *, platform: str, config: EvalConfig, workdir: Path, source: str,
                 candidate_id: str) -> None:
        self.candidate_id = candidate_id
        self._timeout_s = config.timeout_s
        self._began = time.perf_counter()  # with the judge's worker start
        self._pool = Precompiler(task, platform=platform, config=config, workdir=workdir, workers=1)
        self._future = self._pool.submit(candidate_id, source)

    def wait(self) -> float:
        """Waits for the compile (at most as long again as it has run, at most the candidate's timeout) and
        returns the seconds waited."""
        start = time.perf_counter()
        budget = min(self._timeout_s, max(MIN_WAIT_S, start - self._began))
        try:
            result = self._future.result(timeout=budget)
        except (TimeoutError, CancelledError):  # the worker compiles what is missing itself
            logger.info("compile ahead of candidate=%s did not finish in %.1f s more; the worker compiles it",
                        self.candidate_id, budget)
        else:
            logger.info("compile ahead of candidate=%s: %s, %d kernel(s) in %.1f s", self.candidate_id,
                        result.status, result.compiled, result.compile_s)
        return time.perf_counter() - start

    def close(self) -> None:
        self._pool.close()
