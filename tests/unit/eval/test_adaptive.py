"""Adaptive timing: the early-stop rule stops a clearly slower candidate and never a possibly-better one; the
timers honour it, and a cached baseline is only probed on every PROBE_EVERY-th rep."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from eval_helpers import FakeDevice

from kernelevolve.eval import adaptive
from kernelevolve.eval.timing import MIN_REPS, EventTimer, WallClockTimer


def test_median_bounds_bracket_the_median_by_order_statistics():
    samples = list(range(1, 101))  # median 50.5
    low, high = adaptive.median_bounds(samples, z=3.0)
    assert low == 36 and high == 65  # k = floor((100 - 30) / 2) = 35 -> the 36th and 65th smallest
    assert adaptive.median_bounds([5.0]) == (5.0, 5.0)


def _noisy(rng: np.random.Generator, median: float, n: int, spread: float) -> list[float]:
    """Kernel-like times: a floor plus a right-skewed tail (occasional slow reps), median ~ `median`."""
    base = median * (1 + rng.normal(0, spread, n))
    tail = rng.random(n) < 0.1
    base[tail] *= 1 + rng.exponential(0.3, tail.sum())
    return base.tolist()


def test_a_clearly_slower_candidate_is_stopped_at_the_first_check():
    rng = np.random.default_rng(0)
    samples = _noisy(rng, 1.3, adaptive.MIN_REPS, 0.02)  # 30% slower than the best, 2% noise
    assert adaptive.clearly_slower(samples, best_ms=1.0, margin=0.05)
    assert not adaptive.clearly_slower(samples[:-1], best_ms=1.0, margin=0.05)  # not before MIN_REPS


@pytest.mark.parametrize("ratio", [0.8, 1.0, 1.04])
def test_a_possibly_better_candidate_is_never_stopped(ratio):
    """A candidate whose true median is at or under best * (1 + margin) survives every check of 500 runs."""
    rng = np.random.default_rng(int(ratio * 100))
    for _ in range(500):
        samples = _noisy(rng, ratio, 300, 0.03)
        for n in range(adaptive.MIN_REPS, 301, adaptive.CHECK_EVERY):
            assert not adaptive.clearly_slower(samples[:n], best_ms=1.0, margin=0.05), (ratio, n)


def test_no_best_no_stop():
    assert not adaptive.clearly_slower([10.0] * 50, best_ms=None, margin=0.05)
    assert not adaptive.clearly_slower([10.0] * 50, best_ms=0.0, margin=0.05)


def test_check_due_at_min_reps_then_every_block():
    due = [n for n in range(1, 60) if adaptive.check_due(n)]
    assert due == [20, 30, 40, 50]


def test_probe_drift():
    assert adaptive.probe_drift([1.0, 1.1, 1.05], 1.0) == pytest.approx(0.05)
    assert adaptive.probe_drift([], 1.0) == float("inf")


def _fake_timer(clock: FakeDevice, rep_ms: float) -> EventTimer:
    return EventTimer(device_module=clock, warmup_ms=0.0, rep_ms=rep_ms, flush_mb=0.01, device=torch.device("cpu"))


def _fn(clock: FakeDevice, ms: float, calls: list, tag: object = 1):
    def run() -> None:
        clock.now += ms
        calls.append(tag)
    return run


def test_event_timer_stops_a_clearly_slower_candidate_and_times_a_close_one_in_full():
    clock = FakeDevice()
    slow_calls: list[int] = []
    times = _fake_timer(clock, rep_ms=1e9).measure(
        {"candidate": _fn(clock, 2.0, slow_calls), "baseline": _fn(clock, 1.0, [])},
        stop=lambda t: adaptive.clearly_slower(t["candidate"], best_ms=1.0, margin=0.05))
    assert len(times["candidate"]) == adaptive.MIN_REPS
    close = _fake_timer(clock, rep_ms=1e9).measure(
        {"candidate": _fn(clock, 1.02, []), "baseline": _fn(clock, 1.0, [])},
        stop=lambda t: adaptive.clearly_slower(t["candidate"], best_ms=1.0, margin=0.05))
    assert len(close["candidate"]) == 1000  # MAX_REPS: never stopped


def test_event_timer_probes_a_cached_baseline_on_every_eighth_rep_only():
    clock = FakeDevice()
    times = _fake_timer(clock, rep_ms=1e9).measure({"candidate": _fn(clock, 1.0, []), "baseline": _fn(clock, 1.0, [])},
                                                   every={"baseline": adaptive.PROBE_EVERY})
    assert len(times["candidate"]) == 1000 and len(times["baseline"]) == 1000 // adaptive.PROBE_EVERY


def test_wall_clock_timer_honours_stop_and_every():
    calls: list[str] = []
    timer = WallClockTimer(reps=40, synchronize=lambda: None)
    times = timer.measure({"candidate": lambda: calls.append("c"), "baseline": lambda: calls.append("b")},
                          every={"baseline": 4}, stop=lambda t: len(t["candidate"]) >= 30)
    assert len(times["candidate"]) == 30 and len(times["baseline"]) == 8
    assert MIN_REPS <= 30


def test_event_timer_reports_each_calls_host_queueing_time(monkeypatch: pytest.MonkeyPatch):
    """A launcher doing host work (allocations, several launches) is seen: host_ms says what one call costs the
    host, which a back-to-back loop would measure when it exceeds the device time (the judge's sleep hides it)."""
    from kernelevolve.eval import timing

    clock, host = FakeDevice(), [0.0]
    monkeypatch.setattr(timing, "_perf_counter", lambda: host[0])

    def call(device_ms: float, host_ms: float):  # noqa: ANN202
        def run() -> None:
            clock.now += device_ms
            host[0] += host_ms / 1e3
        return run

    timer = _fake_timer(clock, rep_ms=5.0)
    timer.measure({"candidate": call(0.1, 0.4), "baseline": call(0.1, 0.02)})
    assert timer.host_ms == pytest.approx({"candidate": 0.4, "baseline": 0.02})


class _QueuedDevice(FakeDevice):
    """A FakeDevice whose events complete only at a device sync, as CUDA events do: reading an elapsed time whose
    end event was recorded after the last sync raises. Counts the syncs."""

    def __init__(self) -> None:
        super().__init__()
        self.syncs = 0
        self.recorded = 0  # events recorded so far; those up to `done` have completed
        self.done = 0
        device, base = self, self.Event

        class Event(base):  # type: ignore[misc, valid-type]
            def record(self) -> None:
                super().record()
                device.recorded += 1
                self.n = device.recorded

            def elapsed_time(self, end: Event) -> float:
                if end.n > device.done:
                    raise RuntimeError("elapsed_time of an event that has not completed")
                return super().elapsed_time(end)

        self.Event = Event

    def synchronize(self) -> None:
        self.syncs += 1
        self.done = self.recorded


def test_event_timer_queues_reps_and_reads_times_only_after_a_device_sync():
    """Timed reps are not synced one by one: a device sync every SYNC_EVERY reps (and at each stop-rule check,
    which then sees every rep queued so far). No elapsed time is read before its events completed."""
    from kernelevolve.eval.timing import SYNC_EVERY

    clock = _QueuedDevice()
    timer = EventTimer(device_module=clock, warmup_ms=0.0, rep_ms=1e9, flush_mb=0.01, device=torch.device("cpu"))
    seen: list[int] = []

    def stop(times: dict[str, list[float]]) -> bool:
        seen.append(len(times["candidate"]))
        return False

    times = timer.measure({"candidate": _fn(clock, 1.0, []), "baseline": _fn(clock, 0.5, [])}, stop=stop)
    assert len(times["candidate"]) == len(times["baseline"]) == 1000
    assert times["candidate"] == [1.0] * 1000 and times["baseline"] == [0.5] * 1000
    assert seen == [n for n in range(1, 1001) if adaptive.check_due(n)]  # every check sees all reps done
    clock.syncs = 0
    timer.measure({"candidate": _fn(clock, 1.0, []), "baseline": _fn(clock, 0.5, [])})
    # calibration (6 per timed fn) and warm-up (1), then one per SYNC_EVERY reps; a sync per rep would be 1013
    assert clock.syncs == 2 * 6 + 1 + -(-1000 // SYNC_EVERY)


@pytest.mark.parametrize("kind", ["events", "wall"])
def test_a_before_hook_runs_ahead_of_every_call_of_its_name_warm_up_included(kind: str):
    """The judge gives the candidate fresh inputs in its hook: no call of it, timed or not, may reuse the inputs
    an earlier call saw; the baseline (no hook) is never preceded by one."""
    clock, log = FakeDevice(), []
    if kind == "events":
        timer = _fake_timer(clock, rep_ms=40.0)
        timer._warmup_ms = 5.0  # a few warm-up calls of each fn too
    else:
        timer = WallClockTimer(reps=12, synchronize=lambda: None)
    times = timer.measure({"candidate": _fn(clock, 1.0, log, "c"), "baseline": _fn(clock, 0.5, log, "b")},
                          before={"candidate": lambda: log.append("fresh")})
    calls = [i for i, name in enumerate(log) if name == "c"]
    assert len(calls) > len(times["candidate"])  # warm-up (and calibration) calls were made too
    assert all(i > 0 and log[i - 1] == "fresh" for i in calls)
    assert log.count("fresh") == len(calls)
    assert all(log[i - 1] != "fresh" for i, name in enumerate(log) if name == "b" and i > 0)
