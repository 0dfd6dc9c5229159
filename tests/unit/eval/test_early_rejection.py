"""Cheap rejection: a candidate wrong on the job's first case, or one that does not compile, is rejected
before the worker or the referee builds any other case (counted by the task's own make_inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import FAST, HERE

from kernelevolve.core.types import EvalStatus
from kernelevolve.eval import sandbox
from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.tasks.loader import load_task

HONEST = (HERE / "honest" / "scale_shift.py").read_text()
COUNTED_TASK = '''
import os
import torch
from torch import nn

SHAPES = {"n37": {"n": 37}, "n300": {"n": 300}}
HELDOUT_SHAPES = {"n1": {"n": 1}}
LOG = LOG_PATH


class Model(nn.Module):
    def forward(self, x, w, b):
        return x * w + b


def make_inputs(shape, seed):
    with open(LOG, "a") as f:
        f.write(f"{os.getpid()} {shape['n']} {seed}\\n")
    gen = torch.Generator().manual_seed(seed)
    n = shape["n"]
    return [torch.rand(n, generator=gen), torch.rand(n, generator=gen) + 0.5, torch.randn(n, generator=gen)]


def get_inputs():
    return make_inputs(SHAPES["n300"], 0)


def get_init_inputs():
    return []
'''


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Evaluator, Path]:
    monkeypatch.setattr(sandbox, "jail_layers", tuple)  # the task's make_inputs logs outside the workers' jail
    log = tmp_path / "make_inputs.log"
    task_file = tmp_path / "counted_scale_shift.py"
    task_file.write_text(COUNTED_TASK.replace("LOG_PATH", repr(str(log))))
    config = FAST
    evaluator = Evaluator(load_task(str(task_file)), platform="cpu", config=config, workdir=tmp_path / "work")
    yield evaluator, log
    evaluator.close()


def _builds(log: Path) -> list[tuple[int, int, int]]:
    return [tuple(int(x) for x in line.split()) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_wrong_first_case_is_rejected_before_any_other_case_is_built(counted):
    evaluator, log = counted
    log.unlink(missing_ok=True)
    wrong = HONEST.replace("x * w + b", "x * w - b")
    result = evaluator.evaluate(wrong, candidate_id="wrong")
    assert result.status is EvalStatus.INCORRECT, result.reason
    assert "n37" in result.reason and "(seed)" in result.reason  # the job's first case: first shape, first seed
    builds = _builds(log)
    assert len(builds) == 2 and len({pid for pid, _, _ in builds}) == 2, builds  # one case in worker and referee
    assert {(n, seed) for _, n, seed in builds} == {(37, builds[0][2])}
    assert result.metrics["phase.first_case_s"] > 0 and "phase.check_s" not in result.metrics


def test_a_candidate_that_does_not_compile_is_rejected_after_one_case(counted):
    evaluator, log = counted
    log.unlink(missing_ok=True)
    result = evaluator.evaluate(HONEST + "\ndef broken(:\n", candidate_id="syntax")
    assert result.status is EvalStatus.COMPILE_ERROR, result.reason
    assert len(_builds(log)) <= 2


def test_an_honest_candidate_builds_every_case_once_per_process_and_reports_its_phases(counted):
    evaluator, log = counted
    log.unlink(missing_ok=True)
    result = evaluator.evaluate(HONEST, candidate_id="honest")
    assert result.ok, result.reason
    cases_per_process = 3 * (FAST.seeds + 1)  # 3 shapes x (seeds + sign flip), each built once per process
    by_pid: dict[int, list[tuple[int, int]]] = {}
    for pid, n, seed in _builds(log):
        by_pid.setdefault(pid, []).append((n, seed))
    assert len(by_pid) == 2, by_pid
    for found in by_pid.values():
        assert len(found) == len(set(found)), found  # nothing built twice in one process
    worker, referee = sorted(by_pid.values(), key=len, reverse=True)
    timed_calls = 2 * (1 + FAST.interpreter_reps)  # 2 timed shapes x (a warm-up call + the reps), each on fresh inputs
    assert len(worker) == cases_per_process + timed_calls, worker
    assert 2 <= len(referee) - cases_per_process <= 4, referee  # + the checked timed calls: 1 or 2 per timed shape
    assert set(referee) <= set(worker)  # the referee rebuilds only inputs the worker built
    for key in ("phase.first_case_s", "phase.check_s", "phase.timing_s", "phase.judge_s", "phase.worker.import_s",
                "phase.worker.check_s", "phase.worker.timing_s", "phase.referee.prepare_s",
                "phase.referee.compare_s", "eval_seconds"):
        assert result.metrics[key] >= 0, key
    assert result.metrics["cases_checked"] == cases_per_process


def test_a_kernel_too_big_for_the_device_is_a_compile_error_that_keeps_the_worker():
    from triton.runtime.errors import OutOfResources

    from kernelevolve.eval.worker.candidate import _classify

    found = _classify(OutOfResources(300_000, 232_448, "shared memory"), "forward (n37 seed)")
    assert found.status is EvalStatus.COMPILE_ERROR and "shared memory" in found.reason
    assert _classify(RuntimeError("CUDA error: an illegal memory access"), "forward").status is \
        EvalStatus.RUNTIME_ERROR  # a kernel that ran and failed still costs the worker (worker/job.py run_job recycles it)
