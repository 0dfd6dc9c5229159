"""End to end on CPU: the real Controller, Archive and sandboxed Evaluator (Triton interpreter) with the LLM
operator talking to a local OpenAI-compatible server that answers with one 500 error, one timeout, one
answer with no code and one with a compile error. The run must finish and record every call."""

from __future__ import annotations

import pytest

from kernelevolve.core.types import EvalStatus
from kernelevolve.eval.config import EvalConfig
from kernelevolve.eval.evaluator import Evaluator
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
USAGE = {"prompt_tokens": 3000, "completion_tokens": 400, "cached_tokens": 1000}
EDIT = "CHANGE: wider N tiles\n<<<<<<< SEARCH\nBLOCK_N = 32\n=======\nBLOCK_N = 16\n>>>>>>> REPLACE\n"
BROKEN = "CHANGE: broken on purpose\n```python\n" + SEED.replace("def conv1d(x", "def conv1d((x") + "```\n"
WHOLE = "CHANGE: shorter M tiles\n```python\n" + SEED.replace("BLOCK_M = 64 ", "BLOCK_M = 32 ") + "```\n"
SCRIPT = [
    {"status": 500}, {"text": EDIT, "usage": USAGE},            # call 1: a 500, retried, then a valid edit
    {"text": BROKEN, "usage": USAGE},                           # call 2: a compile error
    {"text": "Bigger tiles should help here.", "usage": USAGE},  # call 3: no code at all
    {"sleep": 2.5, "text": "too late"}, {"text": WHOLE, "usage": USAGE},  # call 4: a timeout, retried
]


@pytest.mark.slow
def test_run_with_flaky_endpoint_finishes_and_records_every_call(tmp_path, monkeypatch):
    monkeypatch.setenv("KE_E2E_KEY", "sk-e2e")
    task = load_task("conv1d")
    archive = Archive(tmp_path / "run", "e2e", task="conv1d", platform="cpu")
    archive.start(config={}, versions={}, host="test")
    with ScriptedServer(SCRIPT, default={"text": "out of answers", "usage": USAGE}) as server:
        llm = LLMConfig(backend=LLMBackend.openai, cache=CacheConfig(dir=str(tmp_path / "cache")),
                        openai=EndpointConfig(model="e2e-model", base_url=server.base_url, api_key_env="KE_E2E_KEY",
                                              timeout_s=1.0, max_retries=2, backoff_s=0.01, price_in_per_mtok=2.0,
                                              price_cached_per_mtok=0.5, price_out_per_mtok=8.0))
        operator = build_operator(llm, OperatorConfig(), task, platform="cpu")
        from kernelevolve.controller import Controller

        with Evaluator(task, platform="cpu", config=EvalConfig(seeds=1, interpreter_reps=1),
                       workdir=tmp_path / "eval") as judge:
            controller = Controller(config=SearchConfig(max_steps=4, stall=0, concurrency=1, exploration=0.0),
                                    policy=GreedyPolicy(top_k=1, exploration=0.0), operator=operator, judge=judge,
                                    archive=archive, seed=0)
            outcome = controller.run()
        http_requests = len(server.requests)

    assert outcome.stop_reason is StopReason.MAX_STEPS
    assert http_requests == 6  # 4 calls + one retry after the 500 + one after the timeout
    statuses = {n.candidate.note: n.result.status for n in outcome.graph.nodes() if n.result is not None}
    assert statuses["wider N tiles"] is EvalStatus.OK
    assert statuses["shorter M tiles"] is EvalStatus.OK
    assert statuses["broken on purpose"] is EvalStatus.COMPILE_ERROR
    assert outcome.progress.expansion_failures == 1  # the answer with no code

    calls = archive.meta.llm_calls("e2e")
    assert len(calls) == 4 and all(c["model"] == "e2e-model" for c in calls)
    cost = (2000 * 2.0 + 1000 * 0.5 + 400 * 8.0) / 1e6
    for call in calls:
        assert (call["tokens_in"], call["tokens_out"], call["tokens_cached"]) == (3000, 400, 1000)
        assert call["cost_usd"] == pytest.approx(cost) and call["latency_s"] > 0
        assert call["prompt_path"] and call["response_path"]
    assert "Bigger tiles" in "".join(c["response_excerpt"] or "" for c in calls)
    assert outcome.progress.dollars == pytest.approx(4 * cost)
    prompts = [r["messages"][1]["content"] for r in server.requests]
    assert all("# Diagnosis" in p and "# Knowledge" in p for p in prompts)
