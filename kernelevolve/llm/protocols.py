"""Interfaces of the llm package: one request in, one completion out.

Every backend (an OpenAI-compatible endpoint, a vLLM server behind Ray Serve, a replay file, an
ensemble) is an `LLMClient`. Cross-cutting behaviour (the response cache, recording) wraps a client
instead of adding flags to each one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable


@dataclasses.dataclass(frozen=True, kw_only=True)
class LLMRequest:
    """One chat request: a system message and one user message.

    Attributes:
        system: the system message (role, rules of the answer format).
        prompt: the user message (the rendered context).
        seed: sampling seed passed to the endpoint (reproducible where the server honours it).
    """

    system: str
    prompt: str
    seed: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Completion:
    """One model answer and what it cost.

    Attributes:
        model: the model that answered (for an ensemble: the member picked).
        text: the response text.
        tokens_in: prompt tokens billed, cached ones included.
        tokens_out: completion tokens.
        tokens_cached: prompt tokens the endpoint served from its prompt cache.
        cost_usd: estimated cost of this call, US dollars (0 for a response-cache hit).
        latency_s: wall time of the call including retries, seconds.
        attempts: HTTP attempts made (1 = no retry).
        cache_hit: served from the on-disk response cache, nothing was paid.
    """

    model: str
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    attempts: int = 1
    cache_hit: bool = False

    def record(self, request: LLMRequest) -> dict[str, Any]:
        """Returns the call record stored with the node (Expansion.llm_calls)."""
        return {"model": self.model, "system": request.system, "prompt": request.prompt, "response": self.text,
                "tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "tokens_cached": self.tokens_cached,
                "cost_usd": self.cost_usd, "latency_s": self.latency_s, "attempts": self.attempts,
                "cache_hit": self.cache_hit, "seed": request.seed, "error": None}


@runtime_checkable
class LLMClient(Protocol):
    """The whole surface an LLM backend offers the operator: a name and one blocking completion.

    `name` labels the backend (model name, or `ensemble(a,b)`) in origins and logs. `complete`
    returns a `Completion` carrying its own token and cost accounting, or raises
    `RetryableLLMError` (rate limit, 5xx, timeout — retries already exhausted) or
    `NonRetryableLLMError` (bad request, auth, unknown model, replay miss). It must be safe to call
    from several threads at once; a client that limits concurrency does so inside `complete`.
    """

    name: str

    def complete(self, request: LLMRequest) -> Completion: ...


@runtime_checkable
class FeedbackReceiver(Protocol):
    """A client that learns from results (the bandit ensemble): the operator reports each child's
    improvement over its parent's score and the dollars its call cost."""

    def feedback(self, model: str, improvement: float, cost_usd: float) -> None: ...
