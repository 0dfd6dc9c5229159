"""Runs interpreter jobs in two subprocesses at once, each under TRITON_INTERPRET=1.

A job is single-threaded numpy work in the Triton interpreter, so one subprocess for a module's jobs left the
second core of the 2-core CI machine idle for the ~40 s the seeds' fixtures take.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

PROCS = 2


def run_jobs(argv: list[str], jobs: list[dict], *, timeout_s: float = 600.0) -> list[tuple[list[int], Any]]:
    """Runs `argv + [json of a share of jobs]` once per share, the shares at once; returns (the share's job
    indices, its last stdout line parsed as JSON) per share. Jobs are dealt round-robin, so each share gets
    every kind of job. Raises AssertionError naming the share's stderr tail when one exits non-zero."""
    procs = max(1, min(PROCS, len(os.sched_getaffinity(0)), len(jobs)))
    shares = [list(range(i, len(jobs), procs)) for i in range(procs)]
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    running = [subprocess.Popen([*argv, json.dumps([jobs[i] for i in share])], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env) for share in shares]
    outputs = []
    try:
        for share, proc in zip(shares, running, strict=True):
            out, err = proc.communicate(timeout=timeout_s)
            assert proc.returncode == 0, f"jobs {share} exited {proc.returncode}:\n{err[-4000:]}"
            outputs.append((share, json.loads(out.splitlines()[-1])))
    finally:
        for proc in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return outputs
