"""Interfaces of the operator package: the operator O itself, what a retriever returns and what it must offer.

`Operator` is what the controller calls (a seed, then expansions); `NodeObserver` is the optional
extra of an operator that learns from verdicts.

Retrieval feeds the universal operator's prompt with short, cited pieces of knowledge. Any backend
(BM25 over the knowledge base, code search over a checkout, an embedding index, a remote service)
plugs in by implementing `Retriever`; `DeepSearch` combines several under one token budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from kernelevolve.core.types import Candidate, Node
from kernelevolve.operator.expansion import Expansion, ExpansionRequest


@dataclasses.dataclass(frozen=True, kw_only=True)
class Snippet:
    """One retrieved piece of text, citable by its source.

    Attributes:
        source: where it came from: a path relative to the knowledge-base root or a code root,
            plus '#heading' for a document section or '#L<line>' for a code location.
        title: human-readable label (document title > section heading, or the file name).
        text: the excerpt itself, already cut to fit the caller's token budget.
        score: relevance as the producing retriever ranks it (higher is better; comparable only
            within one retriever's answer).
    """

    source: str
    title: str
    text: str
    score: float


@runtime_checkable
class Retriever(Protocol):
    """The whole surface a retrieval backend offers the operator: one ranked, budgeted search.

    `platform` (nvidia | amd | mtia | cpu) drops hardware documents of other platforms;
    platform-agnostic material is always eligible. `task` drops material written for other tasks.
    At most `k` snippets come back, best first, and together they fit `token_budget` tokens
    (approximated as characters / 4, counting source, title and text).
    """

    def search(
        self,
        query: str,
        *,
        platform: str | None = None,
        task: str | None = None,
        k: int = 4,
        token_budget: int = 1500,
    ) -> list[Snippet]: ...


@runtime_checkable
class Embedder(Protocol):
    """Optional dense-embedding hook for hybrid retrieval; none is installed by default.

    Returns one vector per input text, all of the same length; vectors need not be normalized.
    """

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@runtime_checkable
class ReferenceFollower(Protocol):
    """Resolves file references found in retrieved text (e.g. "see samples/conv1d/seed.py").

    Returns at most `limit` snippets of the referenced files that exist, in order of mention.
    """

    def follow_references(self, text: str, *, limit: int = 2) -> list[Snippet]: ...


@runtime_checkable
class Operator(Protocol):
    """The universal operator O. This is the whole surface: a seed to start from, and expansions."""

    name: str

    def seed(self) -> Candidate:
        """Returns the starting candidate for the task (root of the graph)."""
        ...

    def expand(self, request: ExpansionRequest) -> Expansion:
        """Returns a new candidate derived from the request's parent, or a failure reason."""
        ...


@runtime_checkable
class NodeObserver(Protocol):
    """An operator that learns from verdicts (the LLM operator: sibling-failure memory, bandit feedback).

    The controller calls `observe` with each node once it is evaluated (and with restored nodes on
    resume); operators that are not observers are simply not told.
    """

    def observe(self, node: Node) -> None:
        """Remembers an evaluated node."""
        ...
