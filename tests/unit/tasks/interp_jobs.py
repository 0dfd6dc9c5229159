"""Runs interpreter jobs in two subprocesses at once, each under TRITON_INTERPRET=1.

A job is single-threaded numpy work in the Triton interpreter, so one subprocess for a module's jobs left the
second core of the 2-core CI machine idle for the ~40 s the seeds' fixtures take.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROCS = 2


def run_jobs(argv: list[str], jobs: list[dict], *, timeout_s: float = 600.0) -> list[tuple[list[int], Any]]:
    """Runs `argv + [json of a share of jobs]` once per share, the shares at once; returns (the share's job
    indices, its last stdout line parsed as JSON) per share. Jobs are dealt round-robin, so each share gets
    every kind of job. Each share writes to files of its own (a full pipe cannot stall it while the other is
    read), and timeout_s bounds them all. Raises AssertionError naming the share and its stderr tail when one
    exits non-zero or runs out of time; no share outlives the call."""
    procs = max(1, min(PROCS, len(os.sched_getaffinity(0)), len(jobs)))
    shares = [list(range(i, len(jobs), procs)) for i in range(procs)]
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    with tempfile.TemporaryDirectory(prefix="interp_jobs_") as tmp:
        logs = [(Path(tmp) / f"{i}.out", Path(tmp) / f"{i}.err") for i in range(procs)]
        running = []
        try:
            for share, (out, err) in zip(shares, logs, strict=True):
                with out.open("w") as stdout, err.open("w") as stderr:
                    running.append(subprocess.Popen([*argv, json.dumps([jobs[i] for i in share])], stdout=stdout,
                                                    stderr=stderr, text=True, env=env))
            deadline = time.monotonic() + timeout_s
            for share, proc, (_, err) in zip(shares, running, logs, strict=True):
                try:
                    code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise AssertionError(f"jobs {share} still running after {timeout_s:g} s:\n"
                                         f"{err.read_text()[-4000:]}") from None
                assert code == 0, f"jobs {share} exited {code}:\n{err.read_text()[-4000:]}"
            return [(share, json.loads(out.read_text().splitlines()[-1])) for share, (out, _) in zip(shares, logs,
                                                                                                    strict=True)]
        finally:
            for proc in running:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


def in_job_order(shares: list[tuple[list[int], Any]], results_of: Callable[[Any], list] = lambda out: out) -> list:
    """Returns every job's result at its job's index, from run_jobs' shares; results_of picks a share's per-job
    results out of its output (default: the output is that list)."""
    results: list = [None] * sum(len(share) for share, _ in shares)
    for share, out in shares:
        for i, found in zip(share, results_of(out), strict=True):
            results[i] = found
    return results
