"""The device gate: checks share the device, timing holds it alone, and a waiting timer is not starved."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading
from pathlib import Path

import pytest
from eval_helpers import until

from kernelevolve.eval.device_gate import DeviceGate, device_key


def _probe(directory: Path, key: str, name: str, mode: int) -> bool:
    """Returns True when a fresh descriptor could take the lock `mode` on the gate file now (without waiting)."""
    fd = os.open(directory / f"{key}.{name}", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_readers_share_the_device_and_a_timer_holds_it_alone(tmp_path: Path):
    a, b = DeviceGate("cuda-0", tmp_path), DeviceGate("cuda-0", tmp_path)  # two judges of one process
    with a.shared(), b.shared():
        assert _probe(tmp_path, "cuda-0", "lock", fcntl.LOCK_SH)
        assert not _probe(tmp_path, "cuda-0", "lock", fcntl.LOCK_EX)
    with a.exclusive():
        assert not _probe(tmp_path, "cuda-0", "lock", fcntl.LOCK_SH)
        assert _probe(tmp_path, "cuda-1", "lock", fcntl.LOCK_EX)  # another device is not held
    assert _probe(tmp_path, "cuda-0", "lock", fcntl.LOCK_EX)  # released on leaving the block


def test_a_waiting_timer_goes_before_readers_that_came_after_it(tmp_path: Path):
    reader, timer, late = (DeviceGate("cuda-0", tmp_path) for _ in range(3))
    order: list[str] = []
    with reader.shared():
        waiting = threading.Thread(target=lambda: _hold(timer, "exclusive", order))
        waiting.start()
        until(lambda: not _probe(tmp_path, "cuda-0", "turnstile", fcntl.LOCK_EX), "the timer waits at the turnstile")
        arriving = threading.Thread(target=lambda: _hold(late, "shared", order))
        arriving.start()
        assert order == []  # the timer waits for the reader, the late reader for the timer
    waiting.join(20)
    arriving.join(20)
    assert order == ["exclusive", "shared"]
    assert timer.waited_s > 0 and late.waited_s > 0


def _hold(gate: DeviceGate, mode: str, order: list[str]) -> None:
    with getattr(gate, mode)():
        order.append(mode)


def _hold_in_child(directory: str, ready, leave) -> None:  # noqa: ANN001
    gate = DeviceGate("cuda-0", Path(directory))
    with gate.exclusive():
        ready.set()
        leave.wait(30)


def test_a_timer_in_another_process_excludes_this_ones_checks(tmp_path: Path):
    ctx = multiprocessing.get_context("spawn")
    ready, leave = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_in_child, args=(str(tmp_path), ready, leave))
    child.start()
    try:
        assert ready.wait(60)
        assert not _probe(tmp_path, "cuda-0", "lock", fcntl.LOCK_SH)
    finally:
        leave.set()
        child.join(60)
    assert child.exitcode == 0
    assert _probe(tmp_path, "cuda-0", "lock", fcntl.LOCK_EX)


def test_a_gate_does_not_nest_and_reports_each_hold(tmp_path: Path):
    held: list[tuple[str, float, float]] = []
    gate = DeviceGate("cuda-0", tmp_path, on_release=lambda mode, start, end: held.append((mode, start, end)))
    with gate.shared():
        with pytest.raises(RuntimeError, match="does not nest"):
            with gate.exclusive():
                pass
        assert not _probe(tmp_path, "cuda-0", "lock", fcntl.LOCK_EX)  # the refused nesting released nothing
    with gate.exclusive():
        pass
    assert [m for m, _, _ in held] == ["shared", "exclusive"] and all(s <= e for _, s, e in held)
    gate.close()
    gate.close()


@pytest.mark.parametrize(("env", "key"), [({}, "cuda-all"), ({"CUDA_VISIBLE_DEVICES": "3"}, "cuda-3"),
                                          ({"CUDA_VISIBLE_DEVICES": "GPU-ab/12,GPU-cd"}, "cuda-GPU-ab_12"),
                                          ({"HIP_VISIBLE_DEVICES": "1"}, "cuda-1")])
def test_the_gate_is_named_after_the_device_this_process_sees(monkeypatch: pytest.MonkeyPatch, env, key):  # noqa: ANN001
    for name in ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert device_key("cuda") == key
