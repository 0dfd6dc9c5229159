"""The seed chain's last step against a local scripted OpenAI server: a drafted root is recorded and charged;
a draft with no usable code becomes a failed root node with its reason, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelevolve.controller import Controller
from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.llm.config import CacheConfig, EndpointConfig, LLMBackend, LLMConfig
from kernelevolve.operator.config import OperatorConfig
from kernelevolve.operator.factory import build_operator
from kernelevolve.search.config import SearchConfig
from kernelevolve.search.greedy import GreedyPolicy
from kernelevolve.seeds.capture import Capture
from kernelevolve.seeds.chain import seeded
from kernelevolve.seeds.wrap import wrap_capture
from kernelevolve.store.archive import Archive
from kernelevolve.tasks import load_task
from tests.unit.llm.openai_server import ScriptedServer

KB = Path(__file__).resolve().parents[2] / "assets" / "kernelbench"
TASK = KB / "level1" / "2_leaky_relu.py"
USAGE = {"prompt_tokens": 3000, "completion_tokens": 400, "cached_tokens": 1000}
COST = (2000 * 2.0 + 1000 * 0.5 + 400 * 8.0) / 1e6


class RecordingJudge:
    """Calls every source correct; remembers what it was asked to judge."""

    def __init__(self) -> None:
        self.sources: list[str] = []

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        self.sources.append(source)
        return EvalResult(status=EvalStatus.OK, fitness=1.0, platform="fake")


def _search(tmp_path: Path, script: list[dict], monkeypatch) -> tuple[Archive, RecordingJudge, object]:
    monkeypatch.setenv("KE_DRAFT_KEY", "sk-draft")
    task = load_task(str(TASK))
    archive = Archive(tmp_path / "run", "draft", task=task.name, platform="cpu")
    archive.start(config={}, versions={}, host="test")
    judge = RecordingJudge()
    with ScriptedServer(script, default={"text": "out of answers", "usage": USAGE}) as server:
        llm = LLMConfig(backend=LLMBackend.openai, cache=CacheConfig(dir=str(tmp_path / "cache")),
                        openai=EndpointConfig(model="draft-model", base_url=server.base_url, api_key_env="KE_DRAFT_KEY",
                                              timeout_s=2.0, max_retries=1, backoff_s=0.01, price_in_per_mtok=2.0,
                                              price_cached_per_mtok=0.5, price_out_per_mtok=8.0))
        operator = seeded(build_operator(llm, OperatorConfig(retrieval=False), task, platform="cpu"), task,
                          sample=tmp_path / "no_seed.py", capture_path=None, platform="cpu")
        outcome = Controller(config=SearchConfig(max_steps=1, stall=0, concurrency=1),
                             policy=GreedyPolicy(top_k=1, exploration=0.0), operator=operator, judge=judge,
                             archive=archive, seed=0).run()
    return archive, judge, outcome


def test_a_drafted_root_is_judged_recorded_and_charged(tmp_path, monkeypatch):
    kernel = wrap_capture(Capture.from_json((KB / "captured" / "2_leaky_relu.json").read_text()), TASK.read_text())
    archive, judge, outcome = _search(tmp_path, [{"text": f"```python\n{kernel}```\n", "usage": USAGE}], monkeypatch)
    root = outcome.graph.get(0)
    assert root.candidate.origin == "llm:draft-model" and root.result.status is EvalStatus.OK
    assert judge.sources == [root.candidate.source] and "class ModelNew" in root.candidate.source
    (call,) = archive.meta.llm_calls("draft")
    assert call["node_id"] == 0 and call["cost_usd"] == pytest.approx(COST)
    assert outcome.progress.dollars == pytest.approx(COST) and outcome.progress.tokens == 3400


def test_a_draft_with_no_code_becomes_a_failed_root_with_its_reason(tmp_path, monkeypatch):
    answers = [{"text": "I would fuse the two loops.", "usage": USAGE}, {"text": "Still thinking.", "usage": USAGE}]
    archive, judge, outcome = _search(tmp_path, answers, monkeypatch)
    root = outcome.graph.get(0)
    assert root.result.status is EvalStatus.COMPILE_ERROR and root.parent_id is None
    assert "first draft failed 2 times" in root.result.reason and "no usable code" in root.result.reason
    assert root.candidate.source == "Still thinking." and judge.sources == []
    calls = archive.meta.llm_calls("draft")
    assert len(calls) == 2 and all(c["node_id"] == 0 for c in calls)
    assert outcome.progress.dollars == pytest.approx(2 * COST)
    stored = {n.id: n for n, _, _ in archive.load_nodes()}
    assert stored[0].result.status is EvalStatus.COMPILE_ERROR


class _Member:
    """An ensemble member that answers nothing; restore_bandit only reads the store."""

    def __init__(self, name: str) -> None:
        self.name = name

    def complete(self, request):  # pragma: no cover - never called
        raise AssertionError("restore must not call a model")


def test_a_resumed_ensemble_counts_a_drafted_root_once_and_rewards_only_children(tmp_path):
    import time

    from kernelevolve.config import Config
    from kernelevolve.core.types import Candidate, Node
    from kernelevolve.llm.config import EnsembleStrategy
    from kernelevolve.llm.ensemble import EnsembleClient
    from kernelevolve.operator.llm_operator import LLMOperator
    from kernelevolve.runner import Run, restore_bandit

    task = load_task(str(TASK))
    archive = Archive(tmp_path / "r", "r", task=task.name, platform="cpu")
    archive.start(config={}, versions={}, host="h")
    root = Node(id=0, parent_id=None, created_at=time.time(),
                candidate=Candidate(source="x = 1\n", parent_id=None, origin="llm:cheap"))
    archive.add_roots([root])
    call = {"model": "cheap", "prompt": "draft", "response": "x = 1", "cost_usd": 0.001}
    archive.record_llm_calls(0, [call])
    archive.record_evaluation(root, EvalResult(status=EvalStatus.OK, fitness=0.1, platform="fake"), seq=0, progress={})
    archive.begin_expansion(step=0, parent_id=0, seed=5, inspirations=[])
    child = Node(id=1, parent_id=0, created_at=time.time(), candidate=Candidate(source="x = 3\n", parent_id=0,
                                                                               origin="llm:dear"))
    archive.finish_expansion(step=0, node=child, failure=None, llm_calls=[{**call, "model": "dear"}], progress={})
    archive.record_evaluation(child, EvalResult(status=EvalStatus.OK, fitness=0.3, platform="fake"), seq=1, progress={})
    ensemble = EnsembleClient([(_Member("cheap"), 1.0), (_Member("dear"), 1.0)], strategy=EnsembleStrategy.bandit)
    operator = seeded(LLMOperator(ensemble, task=task, seed_path=None, platform="cpu"), task,
                      sample=tmp_path / "none.py", capture_path=None, platform="cpu")
    run = Run(config=Config(), run_id="r", run_dir=tmp_path / "r", task=task, platform="cpu", archive=archive,
              operator=operator, resumed=True)
    restore_bandit(run, None)
    stats = ensemble.stats()
    assert stats["cheap"][0] == 1 and stats["dear"][0] == 1, "one pick per call row, the draft's included"
    assert stats["dear"][1] > 0, "the child improved on its root: a positive reward"
    assert stats["cheap"][1] == 0.0, "a root has no parent: its draft earns no reward"
