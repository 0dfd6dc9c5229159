"""Timers: device events with L2 flushing on GPUs, wall clock under the interpreter; median and IQR."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from kernelevolve.eval import adaptive

logger = logging.getLogger(__name__)

_perf_counter = time.perf_counter  # bound before candidates run; the taint check covers `time`
MAX_REPS = 1000
MIN_REPS = 10
MAX_SLEEP_CYCLES = 1_000_000  # ~0.5 ms at ~2 GHz: the most a rep waits for the host to queue its launches
MIN_SLEEP_CYCLES = 20_000
SLEEP_HOST_FACTOR = 3.0  # the device waits 3x the host's median time to queue one call (plus a fixed margin)
SLEEP_MARGIN_MS = 0.02
SYNC_EVERY = 16  # timed reps queued between two device syncs (the adaptive stop rule also syncs to read times)
DEFAULT_FLUSH_MB = 512.0  # when the device does not report its L2 size


def median_iqr(times: list[float]) -> tuple[float, float]:
    """Returns (median, interquartile range) of a non-empty list."""
    if len(times) < 4:
        return statistics.median(times), (max(times) - min(times)) if len(times) > 1 else 0.0
    q1, _, q3 = statistics.quantiles(times, n=4)
    return statistics.median(times), q3 - q1


def _setup(hooks: dict[str, Callable[[], None]], name: str) -> None:
    """Runs name's before-hook, if any (ahead of every call of name, warm-up and calibration included)."""
    hook = hooks.get(name)
    if hook is not None:
        hook()


def _rep_names(fns: dict[str, Any], every: dict[str, int] | None, rep: int) -> list[str]:
    """Returns the names timed in rep `rep` (a name with every[name] = k on reps divisible by k only)."""
    every = every or {}
    return [name for name in fns if rep % max(1, every.get(name, 1)) == 0]


class WallClockTimer:
    """perf_counter around each call followed by a device sync; for the interpreter and simple devices."""

    def __init__(self, *, reps: int, synchronize: Callable[[], None], label: str = "interpreter_wall_clock") -> None:
        self.reps = reps
        self.label = label
        self._sync = synchronize

    def measure(self, fns: dict[str, Callable[[], Any]],
                before: dict[str, Callable[[], None]] | None = None, *,
                every: dict[str, int] | None = None,
                stop: Callable[[dict[str, list[float]]], bool] | None = None) -> dict[str, list[float]]:
        """Returns per-name wall-clock times (ms), one warm-up call each first (see Timer for the options)."""
        hooks = before or {}
        for name, fn in fns.items():
            _setup(hooks, name)
            fn()
        self._sync()
        times: dict[str, list[float]] = {name: [] for name in fns}
        for rep in range(self.reps):
            for name in _rep_names(fns, every, rep):
                if name in hooks:
                    hooks[name]()
                    self._sync()
                start = _perf_counter()
                fns[name]()
                self._sync()
                times[name].append((_perf_counter() - start) * 1e3)
            if stop is not None and adaptive.check_due(rep + 1, min_reps=min(self.reps, adaptive.MIN_REPS)) \
                    and stop(times):
                break
        return times


class EventTimer:
    """Device events around each call, L2 flushed before every rep, reps queued back to back.

    The flush buffer is twice the device's L2 (512 MiB when the device does not say), so a candidate cannot
    win by keeping its inputs L2-resident between reps. A device-side sleep before the start event lets the
    host queue every launch first, so the figure is device time, not Python launch overhead (which
    made a torch.compile baseline of a 50 us kernel vary 4x between runs on an H100); the sleep is sized to
    SLEEP_HOST_FACTOR times the host's measured time to queue one call, within [MIN, MAX]_SLEEP_CYCLES.
    Warm-up and rep counts come from the calibration's wall of one whole rep (before-hook, flush, sleep, call,
    sync): `warmup_ms` and `rep_ms` are the wall budgets of the warm-up and of the timed reps, each within
    [MIN_REPS, MAX_REPS] (the warm-up at least one call).

    The timed reps are queued without a host sync between them: the host queues rep i+1 (refill, flush, sleep,
    events, call) while the device runs rep i, and syncs the whole device every SYNC_EVERY reps and wherever
    the adaptive stop rule reads the times. A sync per rep cost a host round trip and a launch gap per rep
    while adding no check: each span is guarded by its own sleep, and work a call leaves on another stream
    (a violation caught by the launch counter) could only overlap, and so slow, a later span.
    """

    def __init__(self, *, device_module: Any, warmup_ms: float, rep_ms: float, flush_mb: float,
                 device: torch.device) -> None:
        self.label = f"{device.type}_events"
        self._mod = device_module
        self._warmup_ms = warmup_ms
        self._rep_ms = rep_ms
        self._flush = torch.empty(int(_flush_bytes(flush_mb, device)) // 4, dtype=torch.int32, device=device)
        self._Event = device_module.Event
        self._sleep = getattr(device_module, "_sleep", None)
        self._cycles = MAX_SLEEP_CYCLES
        self.host_ms: dict[str, float] = {}  # per timed name: the host's median time to queue one call (ms)

    def _queue(self, fn: Callable[[], Any], setup: Callable[[], None] | None = None) -> tuple[Any, Any]:
        """Queues one rep (refill, flush, sleep, start event, call, end event) and returns its two events."""
        start, end = self._Event(enable_timing=True), self._Event(enable_timing=True)
        if setup is not None:
            setup()  # queued ahead of the flush: the copy neither counts nor warms L2 for fn
        self._flush.zero_()
        if self._sleep is not None:
            self._sleep(self._cycles)  # the device waits while the host queues fn: host overhead stays out
        start.record()
        fn()
        end.record()
        return start, end

    def _once(self, fn: Callable[[], Any], setup: Callable[[], None] | None = None) -> float:
        start, end = self._queue(fn, setup)
        self._mod.synchronize()  # device-wide: work left on other streams is waited for here
        return float(start.elapsed_time(end))

    def _calibrate(self, fns: dict[str, Callable[[], Any]],
                   hooks: dict[str, Callable[[], None]]) -> tuple[float, float]:
        """Sizes the pre-rep sleep from the host's time to queue each fn; returns (kernel ms, rep wall ms: the
        before-hook included, so a hook that builds fresh inputs shortens the rep count, not the budget)."""
        host_ms, estimate = 0.0, 0.0
        for name, fn in fns.items():
            _setup(hooks, name)
            fn()
            self._mod.synchronize()
            queued = []
            for _ in range(2):
                if name in hooks:  # the hook's own work stays out of the host's queueing time
                    hooks[name]()
                    self._mod.synchronize()
                t0 = _perf_counter()
                fn()
                queued.append((_perf_counter() - t0) * 1e3)
                self._mod.synchronize()
            self.host_ms[name] = statistics.median(queued)
            host_ms = max(host_ms, self.host_ms[name])
        if self._sleep is not None:
            wanted = (SLEEP_HOST_FACTOR * host_ms + SLEEP_MARGIN_MS) * self._cycles_per_ms()
            self._cycles = int(min(MAX_SLEEP_CYCLES, max(MIN_SLEEP_CYCLES, wanted)))
        rep_wall = 0.0
        for name, fn in fns.items():
            t0 = _perf_counter()
            setup = hooks.get(name)
            estimate = max(estimate, statistics.median(self._once(fn, setup) for _ in range(3)))
            rep_wall += (_perf_counter() - t0) * 1e3 / 3
        return estimate, rep_wall

    def measure(self, fns: dict[str, Callable[[], Any]],
                before: dict[str, Callable[[], None]] | None = None, *,
                every: dict[str, int] | None = None,
                stop: Callable[[dict[str, list[float]]], bool] | None = None) -> dict[str, list[float]]:
        """Returns per-name times (ms) of interleaved reps after warm-up (see Timer for the options).

        before[name](), when given, runs ahead of every call of that name, calibration and warm-up included;
        ahead of a timed rep it runs before the L2 flush and outside the events (the judge gives the candidate
        fresh inputs there).
        """
        hooks = before or {}
        estimate, rep_wall = self._calibrate(fns, hooks)
        # warm-up by wall clock: a rep's wall (flush, sleep, the hook's fresh inputs, the call) bounds the calls,
        # so a hook that builds inputs does not multiply the warm-up's cost (clocks ramp by time, not by calls)
        warmup = max(1, min(MAX_REPS, int(self._warmup_ms / max(estimate, rep_wall, 1e-3))))
        share = sum(1.0 / max(1, (every or {}).get(name, 1)) for name in fns) / max(1, len(fns))
        reps = max(MIN_REPS, min(MAX_REPS, int(self._rep_ms / max(rep_wall * share, 1e-3))))
        for _ in range(warmup):
            for name, fn in fns.items():
                _setup(hooks, name)
                fn()
        self._mod.synchronize()
        times: dict[str, list[float]] = {name: [] for name in fns}
        pending: list[tuple[str, Any, Any]] = []
        for rep in range(reps):
            for name in _rep_names(fns, every, rep):
                pending.append((name, *self._queue(fns[name], hooks.get(name))))
            due = stop is not None and adaptive.check_due(rep + 1)
            if due or (rep + 1) % SYNC_EVERY == 0 or rep == reps - 1:
                self._collect(pending, times)
            if due and stop(times):
                break
        return times

    def _collect(self, pending: list[tuple[str, Any, Any]], times: dict[str, list[float]]) -> None:
        """Waits for the whole device, then moves the queued reps' elapsed times (ms) into times, in order."""
        self._mod.synchronize()  # device-wide: work left on other streams is waited for here
        for name, start, end in pending:
            times[name].append(float(start.elapsed_time(end)))
        pending.clear()

    def _cycles_per_ms(self) -> float:
        """Returns the device's sleep-kernel cycles per millisecond (measured once per process and device kind)."""
        if self.label not in _CYCLES_PER_MS:
            cycles = 200_000
            self._sleep(cycles)  # warm the kernel
            start, end = self._Event(enable_timing=True), self._Event(enable_timing=True)
            start.record()
            self._sleep(cycles)
            end.record()
            end.synchronize()
            _CYCLES_PER_MS[self.label] = cycles / max(float(start.elapsed_time(end)), 1e-3)
        return _CYCLES_PER_MS[self.label]


_CYCLES_PER_MS: dict[str, float] = {}  # timer label -> sleep cycles per ms, for EventTimer._cycles_per_ms


def _flush_bytes(flush_mb: float, device: torch.device) -> float:
    """Returns the L2 flush size: flush_mb MiB, or for 0 twice the device's L2 (DEFAULT_FLUSH_MB if unknown)."""
    if flush_mb > 0:
        return flush_mb * 2**20
    l2 = 0
    if device.type == "cuda":
        l2 = int(getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0) or 0)
    return 2 * l2 if l2 > 0 else DEFAULT_FLUSH_MB * 2**20
