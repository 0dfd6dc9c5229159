"""Phase accounting: wall seconds per phase of a verdict, and the device time spent in its kernels.

Every process of the judge (evaluator, worker, referee) keeps a PhaseClock per job; the worker's and the
referee's travel back in their replies and the evaluator merges them into the verdict's metrics as
`phase.<name>_s` (wall seconds) and `gpu_busy_s`: the summed CUDA-event spans of the judge's own device work,
never time spent inside a call:
  - each correctness call of the candidate, from its first Triton launch (after any JIT compile) to its end;
  - each timed rep of the candidate and the baseline (the timer's events; L2 flushes and sleeps excluded);
  - each reference forward and each output comparison in the referee.
Spans include the launch gaps inside a call (not a Triton JIT compile after its first launch: the span pauses
there), so gpu_busy_s bounds the kernel time from above; the benchmarks
print nvidia-smi's utilization beside it. The device-busy fraction of a verdict is gpu_busy_s over its wall
seconds. `gpu_timed_s` is the part of gpu_busy_s spent in timed reps: those hold the device alone (device_gate.py),
so across judges sharing a device they never overlap, while the other spans of concurrent judges may.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

_perf_counter = time.perf_counter  # bound before any candidate runs
PREFIX, SUFFIX = "phase.", "_s"  # a phase's metric: phase.<name>_s
BUSY = "gpu_busy_s"
TIMED = "gpu_timed_s"


class PhaseClock:
    """Accumulates wall seconds per phase name and device-busy seconds from event pairs."""

    def __init__(self, device_module: Any = None, prefix: str = "") -> None:
        self.prefix = prefix  # "worker." / "referee.": whose phases these are (the evaluator's have none)
        self.seconds: dict[str, float] = {}
        self._events: list[tuple[Any, Any]] = []
        self._busy_s = 0.0
        self._timed_s = 0.0
        self._mod = device_module  # torch.cuda (or None: no device events, e.g. the interpreter)
        self._open: Any = None  # the start event of a span open_span began
        self._paused = False  # pause_span ended an open span that resume_span reopens
        self._pauses = 0  # pause_span calls not yet resumed (a compile can load kernels within it)
        self._stack: list[str] = []  # the phases open now, innermost last
        self.device_error = ""  # what the device raised when the events were read (busy_seconds), if anything

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Adds the wall time of the block to phase `name`."""
        start = _perf_counter()
        self._stack.append(name)
        try:
            yield
        finally:
            self._stack.pop()
            self.add(name, _perf_counter() - start)

    def carve(self, name: str, seconds: float) -> None:
        """Moves seconds out of the innermost open phase into phase `name` (time spent inside it on something
        accounted apart, e.g. Triton's JIT within a correctness call), so the phases still add up to the wall."""
        self.add(name, seconds)
        if self._stack:
            self.add(self._stack[-1], -seconds)

    def add(self, name: str, seconds: float) -> None:
        """Adds seconds to phase `name`."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextlib.contextmanager
    def device_work(self) -> Iterator[None]:
        """Records device events around the block; their elapsed time counts as busy once read."""
        if self._mod is None:
            yield
            return
        start, end = self._mod.Event(enable_timing=True), self._mod.Event(enable_timing=True)
        start.record()
        try:
            yield
        finally:
            end.record()
            self._events.append((start, end))

    def open_span(self) -> None:
        """Records a start event now (a span closed by close_span; see LaunchCounter.on_first)."""
        if self._mod is not None and self._open is None:
            self._open = self._mod.Event(enable_timing=True)
            self._open.record()

    def close_span(self) -> None:
        """Ends the span open_span started, if any."""
        if self._mod is not None and self._open is not None:
            end = self._mod.Event(enable_timing=True)
            end.record()
            self._events.append((self._open, end))
        self._open = None

    def pause_span(self) -> None:
        """Ends the open span, if any, to reopen it at resume_span: the device idles while the host compiles
        (a kernel JIT-compiled after the call's first launch), and that gap is not kernel time. Nests."""
        self._pauses += 1
        if self._pauses == 1:
            self._paused = self._open is not None
            self.close_span()

    def resume_span(self) -> None:
        """Reopens the span the outermost pause_span ended."""
        self._pauses = max(0, self._pauses - 1)
        if self._pauses == 0 and self._paused:
            self._paused = False
            self.open_span()

    def add_busy(self, seconds: float, *, timed: bool = False) -> None:
        """Adds device seconds measured elsewhere (a timer's event times; timed: of timed reps)."""
        self._busy_s += seconds
        self._timed_s += seconds if timed else 0.0

    def busy_seconds(self) -> float:
        """Returns the device-busy seconds so far (synchronizes on the recorded events).

        An event that raises (a CUDA error is sticky: a kernel that faulted, e.g. on an illegal address, poisons
        every later call) ends the reading: the spans left are dropped and `device_error` says what was raised,
        for the job to judge. The clock never raises it."""
        events, self._events = self._events, []
        try:
            for start, end in events:
                end.synchronize()
                self._busy_s += start.elapsed_time(end) / 1e3
        except RuntimeError as error:  # torch.AcceleratorError (a RuntimeError) on torch >= 2.8
            self.device_error = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
        return self._busy_s

    def report(self) -> dict[str, float]:
        """Returns {phase.<name>_s: seconds, gpu_busy_s: seconds} (no gpu_busy_s without a device)."""
        found = {f"{PREFIX}{self.prefix}{name}{SUFFIX}": round(s, 6) for name, s in self.seconds.items()}
        if self._mod is not None:
            found[BUSY] = round(self.busy_seconds(), 6)
            found[TIMED] = round(self._timed_s, 6)
        return found

    def reset(self) -> None:
        """Forgets everything (a new job)."""
        self.seconds.clear()
        self._events.clear()
        self._busy_s = 0.0
        self._timed_s = 0.0
        self._open = None
        self._paused = False
        self._pauses = 0
        self._stack.clear()
        self.device_error = ""


def is_accounting(key: str) -> bool:
    """Returns True for a metric of the judge's own cost: a phase's seconds, or the GPU-busy seconds."""
    return key.startswith(PREFIX) or key in (BUSY, TIMED)


def phase_seconds(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Returns {"worker.check": 0.12, ...}: the phase seconds among a verdict's metrics (report's inverse)."""
    return {k.removeprefix(PREFIX).removesuffix(SUFFIX): float(v) for k, v in sorted(metrics.items())
            if k.startswith(PREFIX) and isinstance(v, int | float)}


def merge(*reports: dict[str, float]) -> dict[str, float]:
    """Returns the sum of phase reports key by key (the worker's, the referee's and the evaluator's)."""
    total: dict[str, float] = {}
    for report in reports:
        for key, value in report.items():
            if isinstance(value, int | float):
                total[key] = total.get(key, 0.0) + float(value)
    return total


def device_module(platform: Any) -> Any:
    """Returns torch.cuda for a device platform with timing events, None for the interpreter."""
    if getattr(platform, "interpreter", True):
        return None
    import torch

    return torch.cuda if platform.device().type == "cuda" else None
