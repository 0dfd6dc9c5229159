"""A bandit-ensemble run stopped and resumed ends with the arm statistics of an uninterrupted run
(concurrency 1, replayed answers, deterministic judge): the state is rebuilt from the run store."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelevolve.config import Config
from kernelevolve.core.types import EvalResult
from kernelevolve.llm.config import EnsembleStrategy, ReplayMatch
from kernelevolve.llm.ensemble import EnsembleClient
from kernelevolve.llm.protocols import Completion, LLMClient, LLMRequest
from kernelevolve.llm.replay import RecordingClient, ReplayClient
from kernelevolve.operator.llm_operator import LLMOperator
from kernelevolve.runner import Run, run_search
from kernelevolve.search.config import SearchConfig
from kernelevolve.store.archive import Archive
from kernelevolve.store.config import StoreConfig
from kernelevolve.tasks import load_task
from tests.fakes import FakeJudge

TASK = load_task("conv1d")
STEPS = 14

COSTS = {"cheap": 0.001, "dear": 0.02}  # dollars per call: the bandit weighs improvement per dollar


class SeededMember:
    """A stand-in model: answers `x = <int>` (a whole file) drawn from the request's seed and its name,
    or no code at all; the uninterrupted run records these answers, the others replay them."""

    def __init__(self, name: str) -> None:
        self.name = name

    def complete(self, request: LLMRequest) -> Completion:
        draw = (request.seed or 0) * (3 if self.name == "dear" else 1)
        text = "I cannot improve this." if draw % 7 == 0 else f"```python\nx = {draw % 40 - 4}\nclass ModelNew:\n    pass\n```"
        return Completion(model="served-under-another-name", text=text, cost_usd=COSTS[self.name])


def _members(answers: Path, *, record: bool) -> list[tuple[LLMClient, float]]:
    path = {n: answers / f"{n}.jsonl" for n in COSTS}
    if record:
        return [(RecordingClient(SeededMember(n), path[n]), 1.0) for n in COSTS]
    return [(ReplayClient(path[n], match=ReplayMatch.prompt, name=n), 1.0) for n in COSTS]


def _run(answers: Path, root: Path, *, max_steps: int, resumed: bool = False, record: bool = False,
         judge: FakeJudge | None = None) -> EnsembleClient:
    ensemble = EnsembleClient(_members(answers, record=record), strategy=EnsembleStrategy.bandit,
                              exploration=0.5, seed=3)
    seed = answers / "seed.py"
    seed.write_text("x = 10\n")
    operator = LLMOperator(ensemble, task=TASK, seed_path=seed, platform="cpu")
    config = Config(search=SearchConfig(max_steps=max_steps, concurrency=1), store=StoreConfig(root=str(root)))
    archive = Archive(root / "r", "r", task="conv1d", platform="cpu")
    if not resumed:
        archive.start(config={}, versions={}, host="h")
    run = Run(config=config, run_id="r", run_dir=root / "r", task=TASK, platform="cpu", archive=archive,
              operator=operator, resumed=resumed)
    try:
        run_search(run, judge or FakeJudge())
    finally:
        archive.close()
    return ensemble


class _Interrupt(BaseException):
    """Stands for a kill during an evaluation: the node stays pending, the run row says interrupted."""


class InterruptingJudge(FakeJudge):
    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        if int(candidate_id) == self.at:
            raise _Interrupt
        return super().evaluate(source, candidate_id=candidate_id)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[Path, dict[str, tuple[int, float]]]:
    """Records both members' answers in one uninterrupted run; returns the recordings' dir and its arm stats."""
    where = tmp_path_factory.mktemp("recorded")
    stats = _run(where, where / "recorded", max_steps=STEPS, record=True).stats()
    assert all(picks >= 3 for picks, _ in stats.values()), stats
    assert all(mean > 0 for _, mean in stats.values()), "both arms earned rewards: the comparison means something"
    assert _run(where, where / "replayed", max_steps=STEPS).stats() == stats, "the replay is faithful"
    return where, stats


def test_a_run_stopped_by_its_budget_and_resumed_continues_the_arm_statistics(tmp_path, recorded):
    answers, uninterrupted = recorded
    first = _run(answers, tmp_path / "split", max_steps=6).stats()
    assert first != uninterrupted
    assert _run(answers, tmp_path / "split", max_steps=6, resumed=True).stats() == first, "restored, nothing new"
    assert _run(answers, tmp_path / "split", max_steps=STEPS, resumed=True).stats() == uninterrupted


def test_a_run_interrupted_mid_evaluation_reports_the_pending_child_after_resume(tmp_path, recorded):
    answers, uninterrupted = recorded
    with pytest.raises(_Interrupt):
        _run(answers, tmp_path / "split", max_steps=STEPS, judge=InterruptingJudge(at=5))
    assert _run(answers, tmp_path / "split", max_steps=STEPS, resumed=True).stats() == uninterrupted


def test_the_ensemble_labels_each_answer_with_the_member_that_gave_it(tmp_path):
    ensemble = EnsembleClient(_members(tmp_path, record=True), strategy=EnsembleStrategy.bandit)
    answers = [ensemble.complete(LLMRequest(system="s", prompt="p", seed=s)).model for s in range(4)]
    assert sorted(set(answers)) == ["cheap", "dear"]
