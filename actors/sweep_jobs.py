"""A sweep as Ray Jobs: submit one job per point, follow them to the end, and collect each point's
outcome for the sweep page (kernelevolve/sweep/page.py). cluster/submit_sweep.py is the command line.

A job runs `python -m kernelevolve.launch cluster=ray cluster.address=auto run.id=<sweep>-<n> store.root=<root> <point>`.
Points that do not fit the cluster at once queue inside their jobs (each run's fleet waits for its
placement group, actors/placement.py) and say so in their logs; this module shows the latest such line.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kernelevolve.sweep.page import SweepPoint
from kernelevolve.sweep.summary import find_summary, summarize

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
STATUS_LINE = re.compile(r"(evaluated \d+ .*|waiting for resources.*|error: .*)")  # what a run says about itself


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepJob:
    """One point of the sweep as a Ray Job: its name (job id = run id), overrides and command."""

    name: str
    overrides: list[str]
    entrypoint: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobState:
    """What the Jobs API says of one job now, and the latest status line of its logs."""

    status: str
    message: str
    latest: str


def entrypoint(point: Sequence[str], run_id: str, store_root: str) -> str:
    """Returns the shell command one job runs for a sweep point."""
    args = ["python", "-m", "kernelevolve.launch", "cluster=ray", "cluster.address=auto", f"run.id={run_id}",
            f"store.root={store_root}", *point]
    return shlex.join(args)


def latest_line(logs: str) -> str:
    """Returns the last thing a run said about itself (progress, waiting for resources, error), or ""."""
    for line in reversed(logs.replace("\r", "\n").splitlines()):
        found = STATUS_LINE.search(ANSI.sub("", line))
        if found:
            return found.group(1).strip()[:200]
    return ""


def submit(client: Any, jobs: Sequence[SweepJob], runtime_env: dict[str, Any], gpus: float) -> None:
    """Submits every job (submission id = the point's name)."""
    for job in jobs:
        client.submit_job(entrypoint=job.entrypoint, submission_id=job.name, runtime_env=runtime_env,
                          entrypoint_num_gpus=gpus or None, metadata={"kernelevolve_sweep_point": job.name})


def _state(client: Any, name: str) -> JobState:
    info = client.get_job_info(name)
    status = str(getattr(info.status, "value", info.status))
    logs = client.get_job_logs(name) if status != "PENDING" else ""
    return JobState(status=status, message=info.message or "", latest=latest_line(logs))


def follow(client: Any, names: Sequence[str], *, every_s: float, on_change: Callable[[dict[str, JobState]], None],
           timeout_s: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> dict[str, JobState]:
    """Polls the jobs until each is SUCCEEDED, FAILED or STOPPED, or timeout_s (> 0) has passed; calls
    `on_change` with every state that changed; returns the last states (the jobs go on after a timeout)."""
    states: dict[str, JobState] = {}
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
    while True:
        now = {name: states[name] if name in states and states[name].status in TERMINAL else _state(client, name)
               for name in names}
        if now != states:
            states = now
            on_change(states)
        if all(s.status in TERMINAL for s in states.values()):
            return states
        if deadline is not None and time.monotonic() > deadline:
            return states
        sleep(every_s)


def _why(state: JobState, logs: str) -> str:
    """Returns one line saying why a job did not succeed: the run's own error line, else Ray's message."""
    errors = [ANSI.sub("", line).strip() for line in logs.splitlines() if ANSI.sub("", line).strip().startswith("error:")]
    if errors:
        return errors[-1][:400]
    return (state.message.strip().splitlines() or [state.status])[0][:400]


def collect(client: Any, jobs: Sequence[SweepJob], states: dict[str, JobState], store_root: Path) -> list[SweepPoint]:
    """Returns each job's sweep point: numbers from the run's store when it is on this machine, else from
    the summary line in the job's logs; the report where the run wrote it."""
    points = []
    for job in jobs:
        state, logs = states[job.name], client.get_job_logs(job.name)
        run_dir = store_root / job.name
        report = run_dir / "report.html"
        if (run_dir / "meta.db").is_file():  # the store is on this machine
            summary, shown = summarize(run_dir), report.is_file()
        else:  # a remote head: the run logged its numbers; its report is on the cluster
            summary = find_summary(logs)
            shown = summary is not None
        points.append(SweepPoint(name=job.name, overrides=job.overrides, status=state.status, summary=summary,
                                 report=str(report) if shown else None,
                                 message="" if state.status == "SUCCEEDED" else _why(state, logs)))
    return points
