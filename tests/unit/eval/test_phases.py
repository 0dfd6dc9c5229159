"""Phase accounting: wall seconds per phase, device-busy seconds from event spans (never from time inside a call)."""

from __future__ import annotations

import pytest

from kernelevolve.eval import phases
from kernelevolve.eval.phases import PhaseClock


class _Device:
    """A fake torch.cuda: events read a clock the test advances (device time, not host time)."""

    def __init__(self) -> None:
        self.now = 0.0
        device = self

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                self.t = None

            def record(self) -> None:
                self.t = device.now

            def synchronize(self) -> None:
                pass

            def elapsed_time(self, end: Event) -> float:
                return (end.t - self.t) * 1e3  # ms

        self.Event = Event


def test_phases_add_up_and_report_with_their_prefix():
    clock = PhaseClock(prefix="worker.")
    clock.add("check", 0.25)
    clock.add("check", 0.5)
    with clock.phase("timing"):
        pass
    report = clock.report()
    assert report["phase.worker.check_s"] == pytest.approx(0.75)
    assert report["phase.worker.timing_s"] >= 0 and "gpu_busy_s" not in report  # no device: no busy figure


def test_device_busy_counts_event_spans_only():
    device = _Device()
    clock = PhaseClock(device)
    with clock.device_work():
        device.now += 0.2  # 200 ms of device time inside the span
    device.now += 5.0  # idle device time between spans is not busy
    clock.open_span()  # a candidate call's first launch (after its JIT compile)
    device.now += 0.05
    clock.close_span()
    clock.close_span()  # closing twice adds nothing
    clock.add_busy(0.1)  # a timer's measured rep times
    assert clock.report()["gpu_busy_s"] == pytest.approx(0.35)
    clock.reset()
    assert clock.report()["gpu_busy_s"] == 0.0


def test_a_span_never_opened_adds_nothing():
    device = _Device()
    clock = PhaseClock(device)
    clock.close_span()  # a call that launched no Triton kernel
    assert clock.busy_seconds() == 0.0


def test_merge_sums_the_processes_reports():
    merged = phases.merge({"phase.check_s": 1.0, "gpu_busy_s": 0.5}, {"phase.referee.prepare_s": 2.0, "gpu_busy_s": 0.25})
    assert merged == {"phase.check_s": 1.0, "phase.referee.prepare_s": 2.0, "gpu_busy_s": 0.75}
