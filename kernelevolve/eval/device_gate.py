"""The device gate: correctness work of several judges may share a device, timing holds it alone.

A readers-writer lock over one device, across threads and processes of a host (fcntl.flock on two
files named after the device). Judges hold it *shared* while they start workers, build cases and
check outputs, and *exclusively* while a worker times a candidate: so the checks of queued
candidates overlap each other, and no other process's kernels overlap a timed region.

Writers come first. A writer takes the turnstile, then the device exclusively, then lets the
turnstile go; a reader passes the turnstile before taking the device shared. So once a writer waits,
no new reader gets in ahead of it, and timing is never starved by a stream of checks. Locks are
taken by polling (0.2 ms growing to 2 ms), so a long wait can be reported in the log.

flock locks belong to an open file description: each `DeviceGate` opens its own, so two gates on one
device exclude each other even inside one process (one gate per judge; a gate is not shared between
threads). A process that dies releases its locks with its descriptors.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

WARN_AFTER_S = 120.0  # a wait this long is worth a line in the log
_VISIBLE = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")


def default_directory() -> Path:
    """Returns the host-wide directory of device gates (every run on this host meets there)."""
    return Path(tempfile.gettempdir()) / f"kernelevolve-device-gates-{os.getuid()}"


def device_key(platform: str) -> str:
    """Returns the name of the device this process judges on: the platform and the devices it may see.

    Under Ray a GPU actor sees one physical device (CUDA_VISIBLE_DEVICES=3); a local run sees them all and
    uses the first, which is the same device as any other process on this host that sees them all.
    """
    visible = next((os.environ[v] for v in _VISIBLE if os.environ.get(v)), "all")
    first = visible.split(",")[0].strip() or "all"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{platform}-{first}")


class DeviceGate:
    """One judge's handle on a device's gate. `waited_s` sums the seconds spent waiting for it."""

    def __init__(self, key: str, directory: Path | None = None,
                 on_release: Callable[[str, float, float], None] | None = None) -> None:
        self.on_release = on_release  # (mode, held from, held until) in time.monotonic(): tests and traces
        self.directory = Path(directory) if directory is not None else default_directory()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.key = key
        self._device = os.open(self.directory / f"{key}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._turnstile = os.open(self.directory / f"{key}.turnstile", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                  0o600)
        self.waited_s = 0.0
        self.held: str | None = None  # "shared" or "exclusive" while held
        self._since = 0.0

    @contextlib.contextmanager
    def shared(self) -> Iterator[float]:
        """Holds the device together with other readers (correctness work, worker start-up); yields the seconds
        this hold waited."""
        with self._hold("shared"):
            yield self._enter(fcntl.LOCK_SH)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[float]:
        """Holds the device alone (a timed region): every reader and writer elsewhere waits; yields the seconds
        this hold waited."""
        with self._hold("exclusive"):
            yield self._enter(fcntl.LOCK_EX)

    def _enter(self, mode: int) -> float:
        start = time.perf_counter()
        self._lock(self._turnstile, fcntl.LOCK_EX, start)
        try:
            self._lock(self._device, mode, start)
        finally:
            fcntl.flock(self._turnstile, fcntl.LOCK_UN)
        waited = time.perf_counter() - start
        self.waited_s += waited
        self._since = time.monotonic()
        return waited

    def _lock(self, fd: int, mode: int, start: float) -> None:
        """Takes the lock, polling (a blocking flock could not say why it waits), and warns once after
        WARN_AFTER_S that another process on this host has held the device that long."""
        pause, warned = 0.0002, False
        while True:
            if _try_flock(fd, mode):
                return
            if not warned and time.perf_counter() - start > WARN_AFTER_S:
                warned = True
                logger.warning("waiting %.0f s for device %s: another judge on this host holds it (the gate is "
                               "%s; a stopped or hung kernelevolve process keeps it until it exits)",
                               time.perf_counter() - start, self.key, self.directory / f"{self.key}.lock")
            time.sleep(pause)
            pause = min(pause * 2, 0.002)

    @contextlib.contextmanager
    def _hold(self, mode: str) -> Iterator[None]:
        if self.held is not None:  # flock would silently convert the held lock (and drop it on release)
            raise RuntimeError(f"device gate {self.key} is already held {self.held}; it does not nest")
        self._since = 0.0
        try:
            self.held = mode
            yield
        finally:
            released = time.monotonic()
            fcntl.flock(self._device, fcntl.LOCK_UN)
            self.held = None
            if self.on_release is not None and self._since:
                self.on_release(mode, self._since, released)

    def close(self) -> None:
        """Closes the gate's files (releasing anything held). Idempotent."""
        for fd in (self._device, self._turnstile):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._device = self._turnstile = -1


def _try_flock(fd: int, mode: int) -> bool:
    """Returns True when the lock was taken, False when another descriptor holds it."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class OpenGate:
    """A gate that never waits: for judges that own their device (the cpu interpreter, tests)."""

    key = "open"
    waited_s = 0.0
    held = None

    @contextlib.contextmanager
    def shared(self) -> Iterator[float]:
        yield 0.0

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[float]:
        yield 0.0

    def close(self) -> None:
        return None
