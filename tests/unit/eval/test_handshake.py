"""The start-up handshake (sandbox.WorkerProcess.handshake): a sandboxed main's `ready` is read as a typed Ready,
and one with a missing, mistyped or unknown field stops the start with an error naming it (never a KeyError or
a wrong device name in the baseline cache later)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelevolve.core.errors import SandboxError
from kernelevolve.eval.sandbox import WorkerProcess
from kernelevolve.eval.wire.messages import Hello, Ready


@contextlib.contextmanager
def _started(tmp_path: Path, *answers: dict) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(task_path=Path("unused.py"), platform="cpu", env_extra={}, workdir=tmp_path,
                           address_space_gb=0.0, memory_limit_gb=0.0, block_network=False,
                           module="tests.unit.eval.raw_ready_worker",
                           extra_args=tuple(arg for a in answers for arg in ("--ready", json.dumps(a))))
    try:
        yield worker
    finally:
        worker.close()


def test_a_well_formed_ready_is_the_workers_info_and_a_staged_one_runs_the_device_work_between(tmp_path):
    ready = {"kind": "ready", "network_isolated": True, "device_name": "NVIDIA H100 80GB HBM3", "torch": "2.11.0",
             "triton": "3.6.0", "start": {"context_s": 1.5, "baselines_s": 7}, "ignored_extra": [1]}
    entered = []
    with _started(tmp_path, {"kind": "ready", "stage": "context"}, ready) as worker:
        worker.send_hello(Hello(baseline="compile", staged=True))
        got = worker.handshake(30, device_work=lambda: contextlib.nullcontext(entered.append("gate")))
    assert got == worker.info == Ready(network_isolated=True, device_name="NVIDIA H100 80GB HBM3", torch="2.11.0",
                                       triton="3.6.0", start={"context_s": 1.5, "baselines_s": 7})
    assert entered == ["gate"]


@pytest.mark.parametrize(("answers", "words"), [
    ([{"kind": "ready", "device_name": 5}], "malformed ready message: Ready.device_name must be str, got int"),
    ([{"kind": "ready", "start": {"context_s": "1.5"}}], r"Ready.start must be dict\[str, float\], got dict"),
    ([{"kind": "ready", "network_isolated": "yes"}], "Ready.network_isolated must be bool, got str"),
    ([{"kind": "ready", "stage": "warming"}], "Ready.stage must be one of"),
    ([{"kind": "ready", "stage": "context"}, {"kind": "ready", "stage": "context"}],
     "a second ready of stage 'context' where the worker should serve"),
    ([{"kind": "harness_error", "error": "ImportError: no torch"}], "harness_error: ImportError: no torch"),
])
def test_a_malformed_ready_stops_the_start_with_the_field_named(tmp_path, answers, words):
    with _started(tmp_path, *answers) as worker:
        with pytest.raises(SandboxError, match=f"evaluation worker failed to start \\(.*{words}"):
            worker.handshake(30)
        assert worker.info is None and not worker.alive()
