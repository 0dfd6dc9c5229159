"""Evaluator-side policies that need no worker: the died-retry and credential redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import FAST

from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.eval.conversation import Verdict
from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.eval.sandbox import Reply, ReplyKind
from kernelevolve.eval.wire.messages import EvalJob
from kernelevolve.tasks.loader import load_task


def _scripted(evaluator: Evaluator, replies: list[Verdict | Reply]) -> list[EvalJob]:
    jobs: list[EvalJob] = []

    def run(job: EvalJob) -> tuple[Verdict | Reply, str]:
        jobs.append(job)
        return replies[len(jobs) - 1], ""

    evaluator._run = run  # type: ignore[method-assign]
    return jobs


def _ok(reason: str = "fine") -> Verdict:
    return Verdict(EvalResult(status=EvalStatus.OK, fitness=1.5, reason=reason), recycle=False)


DIED = Reply(kind=ReplyKind.DIED, detail="worker exited without a verdict (exit code 0)")


def test_a_death_in_a_worker_that_served_before_is_retried_once_fresh(tmp_path: Path):
    evaluator = Evaluator(load_task("conv1d"), platform="cpu", config=FAST, workdir=tmp_path)
    evaluator._worker, evaluator._served = object(), 1  # type: ignore[assignment]
    jobs = _scripted(evaluator, [DIED, _ok()])
    result = evaluator.evaluate("source", candidate_id="c")
    assert len(jobs) == 2 and result.status is EvalStatus.OK and result.fitness == 1.5


def test_a_death_in_a_fresh_worker_is_a_crash_without_retry(tmp_path: Path):
    evaluator = Evaluator(load_task("conv1d"), platform="cpu", config=FAST, workdir=tmp_path)
    jobs = _scripted(evaluator, [DIED, _ok()])
    result = evaluator.evaluate("source", candidate_id="c")
    assert len(jobs) == 1 and result.status is EvalStatus.CRASHED and "exit code 0" in result.reason


@pytest.mark.parametrize("name", ["KERNELEVOLVE_TEST_API_KEY", "KERNELEVOLVE_TEST_COOKIE", "KERNELEVOLVE_SESSION"])
def test_parent_credentials_never_reach_a_verdict(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(name, "sk-live-0123456789")
    evaluator = Evaluator(load_task("conv1d"), platform="cpu", config=FAST, workdir=tmp_path)
    _scripted(evaluator, [_ok(f"import: ValueError: leaked [b'{name}=sk-live-0123456789']")])
    result = evaluator.evaluate("source", candidate_id="c")
    assert "sk-live-0123456789" not in result.reason and "[REDACTED]" in result.reason
