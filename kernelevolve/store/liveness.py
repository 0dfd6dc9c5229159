"""Run liveness: is a run whose row says `running` still run by a live process?

A row's status is written by the process that runs it, so a run killed with kill -9 (or by a lost
machine) stays `running` in its row. While it runs, that process claims the row (its pid and host)
and refreshes `heartbeat_at` every HEARTBEAT_INTERVAL_S from a `Heartbeat` thread, independent of
how long one evaluation blocks the search loop. A reader then tells:
- finished: the run ended (any stop reason); stopped: it was interrupted, its owner's pid is gone
  (same host), or its heartbeat is older than the staleness threshold; running: otherwise;
- unknown: the row says running but holds no heartbeat (written by an older version, or by a driver
  that runs no Heartbeat), so nothing tells whether its process lives.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import platform
import sqlite3
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from kernelevolve.core.errors import StoreError
from kernelevolve.store.sqlite import SqliteMetadataStore

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 10.0  # a write every 10 s: negligible next to an evaluation
STALE_AFTER_S = 60.0  # six missed beats: a slow fsync or a busy GIL delays one beat, not six


class RunState(enum.StrEnum):
    """What a reader can say of a stored run."""

    running = "running"
    stopped = "stopped"
    finished = "finished"
    unknown = "unknown"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Liveness:
    """A run's state and, unless it is plainly running or finished, why (with the resume command)."""

    state: RunState
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.state} ({self.detail})" if self.detail else str(self.state)


def this_host() -> str:
    """Returns this machine's name as runs record it."""
    return platform.node()


def pid_alive(pid: int) -> bool:
    """Returns whether a process with this pid exists on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def resume_hint(run_id: str, root: str | None = None) -> str:
    """Returns the command that continues a stopped run."""
    where = f" store.root={root}" if root else ""
    return f"resume with `python -m kernelevolve.launch run.resume={run_id}{where}`"


def liveness(run: dict[str, Any], *, now: float, stale_after_s: float = STALE_AFTER_S, host: str | None = None,
             alive: Callable[[int], bool] = pid_alive, root: str | None = None) -> Liveness:
    """Returns the state of a run row at time `now` (epoch seconds); `host` is the reader's machine."""
    status = run["status"]
    if status == "finished":
        return Liveness(state=RunState.finished)
    hint = resume_hint(run["id"], root)
    if status != "running":
        return Liveness(state=RunState.stopped, detail=f"{status}; {hint}")
    beat = run.get("heartbeat_at")
    if beat is None:
        return Liveness(state=RunState.unknown, detail="no heartbeat recorded; if no process runs it, " + hint)
    age = max(0.0, now - float(beat))
    pid, owner = run.get("owner_pid"), run.get("owner_host")
    if pid is not None and owner == (host or this_host()) and not alive(int(pid)):
        return Liveness(state=RunState.stopped, detail=f"owner pid {pid} is gone, no heartbeat for {age:.0f} s; {hint}")
    if age > stale_after_s:
        return Liveness(state=RunState.stopped, detail=f"no heartbeat for {age:.0f} s; {hint}")
    return Liveness(state=RunState.running)


class Heartbeat:
    """Claims a run for this process and refreshes its heartbeat from a daemon thread until exit."""

    def __init__(self, meta: SqliteMetadataStore, run_id: str, *, interval_s: float = HEARTBEAT_INTERVAL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.meta = meta
        self.run_id = run_id
        self.interval_s = interval_s
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.meta.claim_run(self.run_id, pid=os.getpid(), host=this_host(), at=self.clock())
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.meta.beat(self.run_id, self.clock())
            except (StoreError, sqlite3.Error) as err:  # a missed beat (disk full, locked DB) must not kill the run
                logger.warning("heartbeat of run=%s not written: %s", self.run_id, err)
