"""Timers: device events with L2 flushing on GPUs, wall clock under the interpreter; median and IQR."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

logger = logging.getLogger(__name__)

_perf_counter = time.perf_counter  # bound before candidates run; the taint check covers `time`
MAX_REPS = 1000
SLEEP_CYCLES = 1_000_000  # ~0.5 ms at ~2 GHz: longer than the host needs to queue a compiled baseline's launches


def median_iqr(times: list[float]) -> tuple[float, float]:
    """Returns (median, interquartile range) of a non-empty list."""
    if len(times) < 4:
        return statistics.median(times), (max(times) - min(times)) if len(times) > 1 else 0.0
    q1, _, q3 = statistics.quantiles(times, n=4)
    return statistics.median(times), q3 - q1


class WallClockTimer:
    """perf_counter around each call followed by a device sync; for the interpreter and simple devices."""

    def __init__(self, *, reps: int, synchronize: Callable[[], None], label: str = "interpreter_wall_clock") -> None:
        self.reps = reps
        self.label = label
        self._sync = synchronize

    def measure(self, fns: dict[str, Callable[[], Any]],
                before: dict[str, Callable[[int], None]] | None = None) -> dict[str, list[float]]:
        """Returns per-name wall-clock times (ms), one warm-up call each first.

        before[name](rep), when given, runs ahead of that name's timed rep, outside the timed region.
        """
        for fn in fns.values():
            fn()
        self._sync()
        times: dict[str, list[float]] = {name: [] for name in fns}
        for rep in range(self.reps):
            for name, fn in fns.items():
                if before and name in before:
                    before[name](rep)
                    self._sync()
                start = _perf_counter()
                fn()
                self._sync()
                times[name].append((_perf_counter() - start) * 1e3)
        return times


class EventTimer:
    """Device events around each call, L2 flushed before every rep, device-wide sync after every rep.

    The flush buffer is larger than any current L2 (H100: 50 MB), so a candidate cannot win by
    keeping its inputs L2-resident between reps. A device-side sleep before the start event lets the
    host queue every launch first, so the figure is device time, not Python launch overhead (which
    made a torch.compile baseline of a 50 us kernel vary 4x between runs on an H100). Rep count comes from a warm-up estimate, as
    triton.testing.do_bench does, capped at MAX_REPS.
    """

    def __init__(self, *, device_module: Any, warmup_ms: float, rep_ms: float, flush_mb: float,
                 device: torch.device) -> None:
        self.label = f"{device.type}_events"
        self._mod = device_module
        self._warmup_ms = warmup_ms
        self._rep_ms = rep_ms
        self._flush = torch.empty(int(flush_mb * 2**20) // 4, dtype=torch.int32, device=device)
        self._Event = device_module.Event
        self._sleep = getattr(device_module, "_sleep", None)

    def _once(self, fn: Callable[[], Any], setup: Callable[[], None] | None = None) -> float:
        start, end = self._Event(enable_timing=True), self._Event(enable_timing=True)
        if setup is not None:
            setup()  # queued ahead of the flush: the copy neither counts nor warms L2 for fn
        self._flush.zero_()
        if self._sleep is not None:
            self._sleep(SLEEP_CYCLES)  # the device waits while the host queues fn: host overhead stays out
        start.record()
        fn()
        end.record()
        self._mod.synchronize()  # device-wide: work left on other streams is waited for here
        return float(start.elapsed_time(end))

    def measure(self, fns: dict[str, Callable[[], Any]],
                before: dict[str, Callable[[int], None]] | None = None) -> dict[str, list[float]]:
        """Returns per-name times (ms) of interleaved reps after warm-up.

        before[name](rep), when given, runs ahead of that name's timed rep, before the L2 flush and
        outside the events (the judge refills the candidate's inputs with another case there).
        """
        estimate = 0.0
        for fn in fns.values():
            fn()
            self._mod.synchronize()
            estimate = max(estimate, statistics.median(self._once(fn) for _ in range(5)))
        warmup = max(1, min(MAX_REPS, int(self._warmup_ms / max(estimate, 1e-3))))
        reps = max(10, min(MAX_REPS, int(self._rep_ms / max(estimate, 1e-3))))
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        self._mod.synchronize()
        times: dict[str, list[float]] = {name: [] for name in fns}
        hooks = before or {}
        for rep in range(reps):
            for name, fn in fns.items():
                hook = hooks.get(name)
                times[name].append(self._once(fn, (lambda h=hook, r=rep: h(r)) if hook is not None else None))
        return times
