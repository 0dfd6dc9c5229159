"""The universal operator O backed by a model: one context-adaptive prompt instead of draft/debug/improve roles.

Per expansion: remember the nodes shown, build the context memory, diagnose the parent's verdict,
retrieve knowledge for the diagnosis, render the prompt templates, call the model, extract the code.
Every call's exact prompt and response go into `Expansion.llm_calls`. A failed call or an answer
with no usable code is a failed expansion with its reason (and its call record), never an exception.

Bandit feedback: the operator remembers which model wrote each proposal and its parent's score.
When the proposal is seen evaluated — through `observe(node)` (the controller calls it after each
evaluation) or as a later request's parent or inspiration — it reports improvement = child score -
parent score and the call's cost to a client that is a `FeedbackReceiver` (the bandit ensemble).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from kernelevolve.core.errors import ExtractionError, LLMError
from kernelevolve.core.types import Candidate, Node
from kernelevolve.llm.protocols import FeedbackReceiver, LLMClient, LLMRequest
from kernelevolve.operator.context import ContextLimits, NodeHistory, build_context
from kernelevolve.operator.expansion import Expansion, ExpansionRequest
from kernelevolve.operator.extraction import extract_source
from kernelevolve.operator.offline import source_hash
from kernelevolve.operator.prompting import Prompt, PromptRenderer
from kernelevolve.operator.protocols import Retriever, Snippet
from kernelevolve.tasks import Task

logger = logging.getLogger(__name__)


class LLMOperator:
    """Expands parents by asking an `LLMClient`; retrieval and templates are injected."""

    def __init__(self, client: LLMClient, *, task: Task, seed_path: Path | None, platform: str | None,
                 retriever: Retriever | None = None, renderer: PromptRenderer | None = None,
                 limits: ContextLimits | None = None, retrieval_k: int = 4,
                 retrieval_token_budget: int = 1500) -> None:
        self.client = client
        self.name = f"llm:{client.name}"
        self.task = task
        self.history = NodeHistory()
        self._seed_path = seed_path
        self._platform = platform
        self._retriever = retriever
        self._renderer = renderer or PromptRenderer()
        self._limits = limits or ContextLimits()
        self._k = retrieval_k
        self._budget = retrieval_token_budget
        self._proposals: dict[str, tuple[str, float, float]] = {}  # source hash -> (model, parent score, cost)
        self._lock = threading.Lock()

    def seed(self) -> Candidate:
        """Returns the seed kernel file, or a first kernel the model drafts; raises ExtractionError/LLMError."""
        if self._seed_path is not None and self._seed_path.is_file():
            return Candidate(source=self._seed_path.read_text(), parent_id=None, origin="seed",
                             note=f"seed kernel {self._seed_path.name}")
        drafted = self.draft(seed=0)
        if drafted.candidate is None:
            raise ExtractionError(drafted.failure or "the model drafted no kernel")
        return drafted.candidate

    def draft(self, *, seed: int) -> Expansion:
        """Returns a first kernel the model drafts from the reference, or why there is none, with the call record."""
        prompt = self._renderer.draft(task=self.task.name, description=self.task.description,
                                      platform=self._platform or "GPU", reference=self.task.path.read_text(),
                                      snippets=self._retrieve(f"{self.task.name} triton kernel first version"))
        request = LLMRequest(system=prompt.system, prompt=prompt.user, seed=seed)
        try:
            completion = self.client.complete(request)
        except LLMError as exc:
            logger.warning("draft call failed: %s", exc)
            return Expansion(candidate=None, failure=f"LLM call failed ({type(exc).__name__}): {exc}",
                             llm_calls=[_error_record(getattr(exc, "model", None) or self.client.name, request, exc)])
        calls = [completion.record(request)]
        try:
            extracted = extract_source(completion.text, "")
        except ExtractionError as exc:
            return Expansion(candidate=None, failure=f"no usable code in the draft of {completion.model}: {exc}",
                             llm_calls=calls)
        logger.info("drafted the seed kernel with model=%s", completion.model)
        return Expansion(candidate=Candidate(source=extracted.source, parent_id=None, origin=f"llm:{completion.model}",
                                             note="first draft from the reference"), llm_calls=calls)

    def observe(self, node: Node) -> None:
        """Remembers an evaluated node; reports bandit feedback when it is one of this operator's proposals."""
        self.history.add(node)
        if node.result is None:
            return
        with self._lock:
            proposal = self._proposals.pop(source_hash(node.candidate.source), None)
        if proposal is not None and isinstance(self.client, FeedbackReceiver):
            model, parent_score, cost = proposal
            self.client.feedback(model, node.score - parent_score, cost)

    def expand(self, request: ExpansionRequest) -> Expansion:
        """Returns a candidate written by the model for the request's parent, or why there is none."""
        for node in (request.parent, *request.inspirations):
            self.observe(node)
        prompt = self._prompt(request)
        llm_request = LLMRequest(system=prompt.system, prompt=prompt.user, seed=request.seed)
        try:
            completion = self.client.complete(llm_request)
        except LLMError as exc:
            logger.warning("llm call for parent=%d failed: %s", request.parent.id, exc)
            return Expansion(candidate=None, failure=f"LLM call failed ({type(exc).__name__}): {exc}",
                             llm_calls=[_error_record(getattr(exc, "model", None) or self.client.name, llm_request, exc)])
        calls = [completion.record(llm_request)]
        parent = request.parent
        try:
            extracted = extract_source(completion.text, parent.candidate.source)
        except ExtractionError as exc:
            return Expansion(candidate=None, failure=f"no usable code in the response of {completion.model}: {exc}",
                             llm_calls=calls)
        digest = source_hash(extracted.source)
        if digest in request.seen_sources:
            return Expansion(candidate=None, failure="the response duplicates a kernel already in the graph",
                             llm_calls=calls)
        with self._lock:
            self._proposals[digest] = (completion.model, parent.score, completion.cost_usd)
        candidate = Candidate(source=extracted.source, parent_id=parent.id, origin=f"llm:{completion.model}",
                              note=extracted.note)
        return Expansion(candidate=candidate, llm_calls=calls)

    def _prompt(self, request: ExpansionRequest) -> Prompt:
        ctx = build_context(request, self.history, task=self.task.name, description=self.task.description,
                            platform=self._platform or "GPU", shapes=_all_shapes(self.task), limits=self._limits)
        query = " ".join(f.query for f in ctx.diagnosis)
        return self._renderer.expand(ctx, self._retrieve(query))

    def _retrieve(self, query: str) -> list[Snippet]:
        if self._retriever is None:
            return []
        platform = {"cuda": "nvidia", "rocm": "amd"}.get(self._platform or "", self._platform)
        return self._retriever.search(query, platform=platform, task=self.task.name, k=self._k,
                                      token_budget=self._budget)


def _all_shapes(task: Task) -> dict[str, dict]:
    """Returns every named shape of the task (all sets), for the diagnosis of tail shapes."""
    return {name: task.shape(name) for name in sorted(task.all_shape_names())}


def _error_record(model: str, request: LLMRequest, exc: LLMError) -> dict:
    """Returns the call record of a call that produced no answer."""
    return {"model": model, "system": request.system, "prompt": request.prompt, "response": None,
            "tokens_in": 0, "tokens_out": 0, "tokens_cached": 0, "cost_usd": 0.0, "latency_s": 0.0,
            "attempts": None, "cache_hit": False, "seed": request.seed, "error": f"{type(exc).__name__}: {exc}"}
