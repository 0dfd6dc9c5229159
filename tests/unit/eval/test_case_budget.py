"""Memory-bounded cases: beyond eval.case_memory_fraction, cases are dropped and rebuilt from their seeds and the
check's outputs reach the referee in batches; nothing is judged less (the fixtures still fail where they should)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from eval_helpers import FAST, HERE, candidate_source

from kernelevolve.core.types import EvalStatus
from kernelevolve.eval.cases import BUDGET, build_shape_cases
from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.tasks.loader import load_task

CPU = torch.device("cpu")
SCALE_SHIFT = HERE / "tasks" / "scale_shift.py"


@pytest.fixture(autouse=True)
def _no_budget_left_behind():
    yield
    BUDGET.reset(None)


def _worker_and_referee(limit: int | None):
    task = load_task(str(SCALE_SHIFT))
    BUDGET.reset(limit)
    worker = build_shape_cases(task, "n300", timed=True, seeds=[5, 6, 7], extra_seed=8, device=CPU, reference=False)
    referee = build_shape_cases(task, "n300", timed=True, seeds=[5, 6, 7], extra_seed=8, device=CPU, reference=True)
    return worker, referee


def test_dropped_cases_come_back_identical_from_their_seeds():
    kept_worker, kept_referee = _worker_and_referee(None)
    expected_inputs = [[x.clone() for x in c.inputs] for c in kept_worker.cases]
    expected_refs = [[r.clone() for r in c.reference] for c in kept_referee.cases]
    worker, referee = _worker_and_referee(1)  # one byte: every case but the last one used is dropped
    assert BUDGET.rebuilds == 0
    for case, want in zip(worker.cases, expected_inputs, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(case.inputs, want, strict=True))
    for case, want in zip(referee.cases, expected_refs, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(case.reference, want, strict=True))
    assert BUDGET.rebuilds >= len(worker.cases) + len(referee.cases) - 1
    assert kept_referee.cases[0].inputs == []  # the referee keeps references, not inputs


def test_cases_within_the_limit_are_never_dropped():
    worker, referee = _worker_and_referee(10**9)
    for case in (*worker.cases, *referee.cases):
        assert case.inputs is not None and case.reference is not None
    assert BUDGET.rebuilds == 0


@pytest.mark.slow
@pytest.mark.parametrize(("fixture", "status"), [("honest/scale_shift.py", EvalStatus.OK),
                                                 ("adversarial/assumes_nonnegative.py", EvalStatus.INCORRECT),
                                                 ("adversarial/restore_spot_files.py", EvalStatus.INCORRECT)])
def test_a_judge_short_of_memory_checks_in_batches_and_misses_nothing(tmp_path, fixture, status):
    config = dataclasses.replace(FAST, case_memory_fraction=1e-15)  # ~0 bytes: one case per batch
    source = candidate_source(HERE / fixture)
    with Evaluator(load_task(str(SCALE_SHIFT)), platform="cpu", config=config, workdir=tmp_path) as judge:
        verdict = judge.evaluate(source, candidate_id="c")
    assert verdict.status is status, verdict.reason
    if status is EvalStatus.OK:  # 2 timed shapes x 3 cases + 1 held-out x 3, after the first: a batch each
        assert verdict.metrics["check_batches"] == 8 and verdict.metrics["cases_rebuilt"] > 0
