"""Phase accounting: wall seconds per phase, device-busy seconds from event spans (never from time inside a call)."""

from __future__ import annotations

import pytest
from eval_helpers import FakeDevice

from kernelevolve.eval import phases
from kernelevolve.eval.phases import PhaseClock


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
    device = FakeDevice()
    clock = PhaseClock(device)
    with clock.device_work():
        device.now += 200.0  # 200 ms of device time inside the span
    device.now += 5000.0  # idle device time between spans is not busy
    clock.open_span()  # a candidate call's first launch (after its JIT compile)
    device.now += 50.0
    clock.close_span()
    clock.close_span()  # closing twice adds nothing
    clock.add_busy(0.1)  # a timer's measured rep times
    assert clock.report()["gpu_busy_s"] == pytest.approx(0.35)
    clock.reset()
    assert clock.report()["gpu_busy_s"] == 0.0


def test_a_span_never_opened_adds_nothing():
    device = FakeDevice()
    clock = PhaseClock(device)
    clock.close_span()  # a call that launched no Triton kernel
    assert clock.busy_seconds() == 0.0


def test_merge_sums_the_processes_reports():
    merged = phases.merge({"phase.check_s": 1.0, "gpu_busy_s": 0.5}, {"phase.referee.prepare_s": 2.0, "gpu_busy_s": 0.25})
    assert merged == {"phase.check_s": 1.0, "phase.referee.prepare_s": 2.0, "gpu_busy_s": 0.75}


def test_phase_seconds_reads_back_what_report_wrote():
    clock = PhaseClock(FakeDevice(), prefix="referee.")
    clock.add("prepare", 0.5)
    metrics = {**clock.report(), "eval_seconds": 2.0, "triton_launches": 3.0}
    assert phases.phase_seconds(metrics) == {"referee.prepare": 0.5}
    assert sorted(k for k in metrics if phases.is_accounting(k)) == ["gpu_busy_s", "gpu_timed_s",
                                                                     "phase.referee.prepare_s"]


def test_timed_reps_are_busy_time_of_their_own():
    clock = PhaseClock(FakeDevice())
    clock.add_busy(0.25, timed=True)  # a timer's reps
    clock.add_busy(0.5)  # device time measured elsewhere, not timed reps
    report = clock.report()
    assert report["gpu_timed_s"] == pytest.approx(0.25) and report["gpu_busy_s"] >= 0.75
    clock.reset()
    assert clock.report()["gpu_timed_s"] == 0.0


def test_carve_moves_seconds_out_of_the_innermost_open_phase(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(phases, "_perf_counter", lambda: now[0])
    clock = PhaseClock(prefix="worker.")
    with clock.phase("check"):
        now[0] += 2.0
        clock.carve("jit", 0.75)  # Triton compiled a kernel inside the check's candidate call
    clock.carve("jit", 0.25)  # outside every phase: counted, taken from none
    report = clock.report()
    assert report["phase.worker.check_s"] == pytest.approx(1.25)
    assert report["phase.worker.jit_s"] == pytest.approx(1.0)


def test_a_jit_compile_inside_a_call_is_not_busy_time():
    """A candidate call whose second kernel compiles after its first launch: the device idles while the host
    compiles (and loads, nested within the compile), so that gap is cut out of the span."""
    device = FakeDevice()
    clock = PhaseClock(device)
    clock.open_span()  # first launch
    device.now += 30.0  # the first kernel runs
    clock.pause_span()  # the second kernel's compile starts
    clock.pause_span()  # a cache load within it
    device.now += 4000.0  # 4 s of compiling: the device is idle
    clock.resume_span()
    assert clock.busy_seconds() == pytest.approx(0.03)  # still paused: the load was nested in the compile
    clock.resume_span()
    device.now += 20.0  # the second kernel runs
    clock.close_span()
    assert clock.busy_seconds() == pytest.approx(0.05)
    clock.pause_span()  # a compile outside any span (before the first launch) opens nothing
    device.now += 1000.0
    clock.resume_span()
    clock.close_span()
    assert clock.busy_seconds() == pytest.approx(0.05)


def test_a_device_fault_is_reported_by_the_clock_never_raised():
    """A CUDA error is sticky: once a candidate's kernel faults, reading any event raises. The clock keeps what it
    read before, drops the rest and says what the device raised; the job judges it (eval/worker/job.py)."""
    device = FakeDevice()
    clock = PhaseClock(device, prefix="worker.")
    with clock.device_work():
        device.now += 100.0
    assert clock.busy_seconds() == pytest.approx(0.1)
    with clock.device_work():
        device.now += 300.0
    clock.add("check", 0.5)
    device.fault = RuntimeError("CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be")
    report = clock.report()
    assert report["phase.worker.check_s"] == 0.5 and report["gpu_busy_s"] == pytest.approx(0.1)
    assert clock.device_error == "RuntimeError: CUDA error: an illegal memory access was encountered"
    assert clock.report()["gpu_busy_s"] == pytest.approx(0.1)  # the faulted spans are gone: nothing raises again
    clock.reset()
    assert clock.device_error == ""


@pytest.mark.parametrize(("status", "after"), [("ok", "crashed"), ("incorrect", "crashed"), ("timeout", "crashed"),
                                               ("runtime_error", "runtime_error"), ("crashed", "crashed")])
def test_a_device_left_in_error_fails_the_candidate(status, after):
    from kernelevolve.core.types import EvalResult, EvalStatus
    from kernelevolve.eval.worker.job import device_fault

    before = EvalResult(status=EvalStatus(status), platform="cuda", reason="its own reason", metrics={"x": 1.0})
    result = device_fault(before, "AcceleratorError: CUDA error: an illegal memory access was encountered")
    assert result.status is EvalStatus(after) and result.metrics == {"x": 1.0}
    if after != status:
        assert "illegal memory access" in result.reason and f"judged {status}" in result.reason
    else:
        assert result is before  # its own failure says more than the device's later error
