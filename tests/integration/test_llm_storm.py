"""The LLM endpoint misbehaving for a while — a storm of 429s, answers that hang past the timeout, a garbled
(non-JSON) body, an answer with no code — then answering well: every failed call is recorded as a failed
expansion, the run goes on to judge the good answers, and the dollar budget stops it within one call."""

from __future__ import annotations

import pytest

from kernelevolve.controller import Controller
from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.llm.config import CacheConfig, EndpointConfig, LLMBackend, LLMConfig
from kernelevolve.operator.config import OperatorConfig
from kernelevolve.operator.factory import build_operator
from kernelevolve.paths import seed_kernel_path
from kernelevolve.search.config import SearchConfig
from kernelevolve.search.greedy import GreedyPolicy
from kernelevolve.search.termination import StopReason
from kernelevolve.store.archive import Archive
from kernelevolve.tasks import load_task
from tests.unit.llm.openai_server import ScriptedServer

SEED = seed_kernel_path("conv1d").read_text()
USAGE = {"prompt_tokens": 3000, "completion_tokens": 400, "cached_tokens": 0}
COST = (3000 * 2.0 + 400 * 8.0) / 1e6  # dollars per answered call at the prices below


def _whole(block_m: int) -> dict:
    code = SEED.replace("BLOCK_M = 64 ", f"BLOCK_M = {block_m} ")
    return {"text": f"CHANGE: BLOCK_M {block_m}\n```python\n{code}```\n", "usage": USAGE}


# Every failing call below uses exactly its 2 attempts (max_retries=1) or fails without a retry.
STORM = [{"status": 429}] * 6  # 3 calls, each rate-limited twice
HANGS = [{"sleep": 1.5, "text": "too late"}] * 2  # 1 call, timed out twice
GARBAGE = [{"raw": "<html>502 Bad Gateway</html>"},  # 1 call: a garbled body (not JSON), not retried
           {"text": "I would rather not write code today.", "usage": USAGE}]  # 1 call: answered, no code
SCRIPT = [*STORM, *HANGS, *GARBAGE, _whole(32), _whole(16), _whole(8), _whole(128), _whole(4)]
FAILED_CALLS = 6


class AlwaysOkJudge:
    """Judges every candidate correct (the storm is the subject, not the judge)."""

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        return EvalResult(status=EvalStatus.OK, fitness=1.0 + len(source) % 7 / 100, platform="fake")


@pytest.mark.slow
def test_a_429_storm_hangs_and_garbage_are_recorded_and_the_run_goes_on_within_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("KE_STORM_KEY", "sk-storm")
    task = load_task("conv1d")
    archive = Archive(tmp_path / "run", "storm", task="conv1d", platform="cpu")
    archive.start(config={}, versions={}, host="test")
    budget = 2.5 * COST  # enough for the failed-but-answered call and two good answers, not three
    with ScriptedServer(SCRIPT) as server:
        llm = LLMConfig(backend=LLMBackend.openai, cache=CacheConfig(dir=str(tmp_path / "cache")),
                        openai=EndpointConfig(model="storm-model", base_url=server.base_url,
                                              api_key_env="KE_STORM_KEY", timeout_s=0.5, max_retries=1,
                                              backoff_s=0.01, price_in_per_mtok=2.0, price_out_per_mtok=8.0))
        operator = build_operator(llm, OperatorConfig(), task, platform="cpu")
        controller = Controller(config=SearchConfig(max_steps=20, stall=0, concurrency=1, exploration=0.0,
                                                    max_dollars=budget),
                                policy=GreedyPolicy(top_k=1, exploration=0.0), operator=operator,
                                judge=AlwaysOkJudge(), archive=archive, seed=0)
        outcome = controller.run()
    assert outcome.stop_reason is StopReason.DOLLARS
    assert budget <= outcome.progress.dollars <= budget + COST, "the budget stops the run within one call"
    assert outcome.progress.expansion_failures == FAILED_CALLS
    failures = [e for e in archive.meta.expansions("storm") if e["status"] != "done"]
    assert len(failures) == FAILED_CALLS and all(e["failure"] for e in failures), failures
    judged = [n for n in outcome.graph.nodes() if n.parent_id is not None]
    assert [n.candidate.note for n in judged] == ["BLOCK_M 32", "BLOCK_M 16"], "the run went on after the storm"
    assert all(n.result.status is EvalStatus.OK for n in judged)
    assert len(archive.meta.llm_calls("storm")) >= 3  # answered calls are recorded with their cost
    assert len(server.requests) == 2 * 3 + 2 + 1 + 1 + 2, "each call took its attempts, none more"
    reasons = " ".join(e["failure"] for e in failures)
    assert "429" in reasons and "Timeout" in reasons, reasons
