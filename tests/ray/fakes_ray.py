"""Fakes for Ray tests, importable by Ray workers (tests.ray.fakes_ray): they leave marker files so a test
can see which candidate started and finished where, across actor processes and restarts."""

from __future__ import annotations

import hashlib
import os
import queue
import time
import uuid
from pathlib import Path

import ray

from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.eval.device_gate import DeviceGate, device_key
from kernelevolve.operator.expansion import Expansion, ExpansionRequest
from tests.fakes import FakeJudge, FakeOperator


def _mark(folder: str, *parts: str) -> None:
    name = ray.get_runtime_context().get_actor_name() or "driver"
    Path(folder, "__".join([*parts, name, str(os.getpid()), uuid.uuid4().hex[:8]])).touch()


def marks(folder: Path, kind: str) -> list[tuple[str, str, str]]:
    """Returns (key, actor name, pid) for every `kind` marker (start_eval, done_eval, start_expand, done_expand)."""
    out = []
    for path in folder.iterdir():
        parts = path.name.split("__")
        if parts[0] == kind:
            out.append((parts[1], parts[2], parts[3]))
    return out


class MarkingJudge(FakeJudge):
    """FakeJudge that takes `delay_s` and marks start/done; raises on the GPU named `broken_gpu`."""

    def __init__(self, folder: str, delay_s: float = 0.2, broken_gpu: str | None = None) -> None:
        super().__init__()
        self.folder, self.delay_s = folder, delay_s
        self.broken = broken_gpu is not None and os.environ.get("CUDA_VISIBLE_DEVICES") == broken_gpu

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        if self.broken:
            raise RuntimeError("CUDA error: unspecified launch failure (fake)")
        _mark(self.folder, "start_eval", candidate_id)
        time.sleep(self.delay_s)
        result = super().evaluate(source, candidate_id=candidate_id)
        _mark(self.folder, "done_eval", candidate_id)
        return result


class MarkingOperator(FakeOperator):
    """FakeOperator that takes `delay_s` per expansion and marks start/done by request key."""

    def __init__(self, folder: str, delay_s: float = 0.2) -> None:
        super().__init__()
        self.folder, self.delay_s = folder, delay_s

    def expand(self, request: ExpansionRequest) -> Expansion:
        key = f"{request.parent.id}-{request.seed}"
        _mark(self.folder, "start_expand", key)
        time.sleep(self.delay_s)
        expansion = super().expand(request)
        _mark(self.folder, "done_expand", key)
        return expansion


class AnyKernelJudge(FakeJudge):
    """Judges any source as correct, fitness 1.0-1.9 from its hash (for searches whose candidates come from a
    model's answers, which FakeJudge's `x=<int>` sources are not)."""

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        self.evaluated.append(candidate_id)
        fitness = 1.0 + int(hashlib.sha256(source.encode()).hexdigest()[:2], 16) % 10 / 10
        return EvalResult(status=EvalStatus.OK, fitness=fitness, platform="fake")


def holds(folder: Path) -> list[tuple[str, str, float, float, str]]:
    """Returns (gpu, mode, held from, held until, evaluator) for every device-gate hold a GatedJudge recorded."""
    out = []
    for path in folder.iterdir():
        parts = path.name.split("__")
        if parts[0] == "hold":
            out.append((parts[1], parts[2], float(parts[3]), float(parts[4]), parts[5]))
    return out


class GatedJudge(FakeJudge):
    """`judges` fake judges of one device behind the real device gate, one gate handle each (as JudgePool):
    a candidate's check holds the gate shared for `check_s`, its timing exclusively for `time_s`. Every hold
    is recorded with the GPU this process sees (CUDA_VISIBLE_DEVICES, set by Ray) and its monotonic
    interval, which is system-wide on Linux, so holds of different actor processes compare."""

    def __init__(self, folder: str, gate_dir: str, judges: int, check_s: float, time_s: float) -> None:
        super().__init__()
        self.folder, self.check_s, self.time_s = folder, check_s, time_s
        self.gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "none")
        self._free: queue.SimpleQueue[DeviceGate] = queue.SimpleQueue()
        for _ in range(judges):
            self._free.put(DeviceGate(device_key("cuda"), Path(gate_dir), on_release=self._record))

    def _record(self, mode: str, since: float, until: float) -> None:
        name = ray.get_runtime_context().get_actor_name()
        Path(self.folder, f"hold__{self.gpu}__{mode}__{since!r}__{until!r}__{name}__{uuid.uuid4().hex[:8]}").touch()

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        gate = self._free.get()
        try:
            with gate.shared():
                time.sleep(self.check_s)
            with gate.exclusive():
                time.sleep(self.time_s)
        finally:
            self._free.put(gate)
        return super().evaluate(source, candidate_id=candidate_id)
