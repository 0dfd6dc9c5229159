"""The LLM operator: context-adaptive prompt, recorded calls, failures as data, bandit feedback."""

from __future__ import annotations

import threading

import pytest

from kernelevolve.core.errors import RetryableLLMError
from kernelevolve.core.types import Candidate, EvalResult, EvalStatus, Mismatch, Node, NodeState, ShapeTiming
from kernelevolve.llm.protocols import Completion, LLMRequest
from kernelevolve.operator.expansion import ExpansionRequest
from kernelevolve.operator.llm_operator import LLMOperator
from kernelevolve.operator.offline import source_hash
from kernelevolve.operator.protocols import Operator, Snippet
from kernelevolve.paths import seed_kernel_path
from kernelevolve.tasks import load_task

SEED_PATH = seed_kernel_path("conv1d")
SEED = SEED_PATH.read_text()
EDIT = "CHANGE: wider N tiles\n<<<<<<< SEARCH\nBLOCK_N = 32\n=======\nBLOCK_N = 64\n>>>>>>> REPLACE\n"


class ScriptedLLM:
    """Answers from a list (an exception instance is raised); remembers every request."""

    name = "scripted"

    def __init__(self, answers) -> None:
        self.answers = list(answers)
        self.requests: list[LLMRequest] = []
        self.feedbacks: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()

    def complete(self, request: LLMRequest) -> Completion:
        with self._lock:
            self.requests.append(request)
            answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Completion(model="m1", text=answer, tokens_in=900, tokens_out=80, tokens_cached=300,
                          cost_usd=0.002, latency_s=1.5)

    def feedback(self, model: str, improvement: float, cost_usd: float) -> None:
        self.feedbacks.append((model, improvement, cost_usd))


class StubRetriever:
    def __init__(self) -> None:
        self.queries: list[tuple[str, str | None]] = []

    def search(self, query, *, platform=None, task=None, k=4, token_budget=1500):
        self.queries.append((query, platform))
        return [Snippet(source="guidance/masks-and-tails.md#tails", title="Masks > Tails", text="mask the tail", score=1.0)]


def _operator(answers, seed_path=SEED_PATH, platform="cuda"):
    llm, retriever = ScriptedLLM(answers), StubRetriever()
    op = LLMOperator(llm, task=load_task("conv1d"), seed_path=seed_path, platform=platform, retriever=retriever)
    return op, llm, retriever


def _parent(result, source=SEED, node_id=4):
    return Node(id=node_id, parent_id=None, candidate=Candidate(source=source, parent_id=None, origin="seed"),
                state=NodeState.EVALUATED, result=result)


def _request(parent, seen=frozenset(), inspirations=()):
    return ExpansionRequest(parent=parent, inspirations=list(inspirations), seen_sources=seen, seed=11)


OK = EvalResult(status=EvalStatus.OK, fitness=1.3, platform="cuda", metrics={"dram_bw_frac": 0.35},
                timings=[ShapeTiming(shape="b256_fp16", candidate_ms=0.2, candidate_iqr_ms=0.01, baseline_ms=0.25)])


def test_success_records_the_exact_call_and_builds_a_child():
    op, llm, retriever = _operator([EDIT])
    assert isinstance(op, Operator) and op.name == "llm:scripted"
    expansion = op.expand(_request(_parent(OK)))
    child = expansion.candidate
    assert child.source == SEED.replace("BLOCK_N = 32", "BLOCK_N = 64")
    assert child.parent_id == 4 and child.origin == "llm:m1" and child.note == "wider N tiles"
    [call] = expansion.llm_calls
    assert call["prompt"] == llm.requests[0].prompt and call["response"] == EDIT and call["seed"] == 11
    assert (call["tokens_in"], call["tokens_out"], call["tokens_cached"], call["cost_usd"], call["latency_s"]) == \
        (900, 80, 300, 0.002, 1.5)
    assert expansion.tokens == 980 and expansion.dollars == 0.002
    assert retriever.queries[0][1] == "nvidia"  # cuda documents are nvidia's


def test_prompt_carries_code_timings_diagnosis_and_cited_knowledge():
    op, llm, _ = _operator([EDIT])
    op.expand(_request(_parent(OK)))
    prompt = llm.requests[0].prompt
    assert "BLOCK_N = 32" in prompt and "b256_fp16" in prompt and "memory-bound at 35%" in prompt
    assert "guidance/masks-and-tails.md#tails" in prompt and "make it faster" in prompt
    assert "SEARCH" in llm.requests[0].system


def test_broken_parent_prompt_shows_the_mismatch_and_asks_for_a_fix():
    bad = EvalResult(status=EvalStatus.INCORRECT, reason="tail_fp16 mismatch",
                     mismatch=Mismatch(shape="tail_fp16", seed=1, output_index=0, max_abs_err=0.3, max_rel_err=2.0,
                                       frac_mismatched=0.02, first_bad_index=[2, 6, 36]))
    op, llm, retriever = _operator([EDIT])
    op.expand(_request(_parent(bad)))
    prompt = llm.requests[0].prompt
    assert "2.00% mismatched" in prompt and "fix the cause" in prompt and "check masks" in prompt
    assert "masks tails" in retriever.queries[0][0]


def test_sibling_failures_reach_the_next_prompt():
    op, llm, _ = _operator([EDIT, EDIT])
    parent = _parent(OK)
    child = op.expand(_request(parent)).candidate
    op.observe(Node(id=5, parent_id=4, candidate=child, state=NodeState.EVALUATED,
                    result=EvalResult(status=EvalStatus.COMPILE_ERROR, reason="ptxas exploded")))
    op.expand(_request(parent))
    assert "node 5 (wider N tiles): compile_error" in llm.requests[1].prompt and "ptxas exploded" in llm.requests[1].prompt


def test_response_without_code_is_a_failed_expansion_with_its_call_recorded():
    op, _, _ = _operator(["I would try bigger tiles."])
    expansion = op.expand(_request(_parent(OK)))
    assert expansion.candidate is None and "no usable code" in expansion.failure
    assert expansion.llm_calls[0]["response"] == "I would try bigger tiles." and expansion.llm_calls[0]["tokens_in"] == 900


def test_llm_failure_is_a_failed_expansion_not_an_exception():
    op, _, _ = _operator([RetryableLLMError("HTTP 503 after 5 attempts")])
    expansion = op.expand(_request(_parent(OK)))
    assert expansion.candidate is None and "RetryableLLMError" in expansion.failure
    assert "503" in expansion.llm_calls[0]["error"] and expansion.llm_calls[0]["prompt"]


def test_a_failed_call_is_recorded_under_the_member_an_ensemble_picked():
    failure = RetryableLLMError("HTTP 503 after 5 attempts")
    failure.model = "member-b"  # what EnsembleClient attaches
    op, _, _ = _operator([failure])
    assert op.expand(_request(_parent(OK))).llm_calls[0]["model"] == "member-b"


def test_duplicate_of_a_seen_source_is_refused():
    seen = frozenset({source_hash(SEED.replace("BLOCK_N = 32", "BLOCK_N = 64"))})
    expansion = _operator([EDIT])[0].expand(_request(_parent(OK), seen))
    assert expansion.candidate is None and "duplicates" in expansion.failure


def test_feedback_is_child_score_minus_parent_score_once():
    op, llm, _ = _operator([EDIT])
    child = op.expand(_request(_parent(OK))).candidate
    evaluated = Node(id=9, parent_id=4, candidate=child, state=NodeState.EVALUATED,
                     result=EvalResult(status=EvalStatus.OK, fitness=1.8))
    op.observe(evaluated)
    op.observe(evaluated)
    assert llm.feedbacks == [("m1", pytest.approx(0.5), 0.002)]


def test_seed_is_the_seed_file_or_a_draft_from_the_reference(tmp_path):
    op, llm, _ = _operator([])
    assert op.seed().source == SEED and not llm.requests
    drafter, llm, _ = _operator([f"```python\n{SEED}```"], seed_path=tmp_path / "missing.py")
    drafted = drafter.seed()
    assert drafted.source == SEED and drafted.parent_id is None
    assert "class Model(nn.Module)" in llm.requests[0].prompt  # the reference task file
