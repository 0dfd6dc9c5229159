"""What an operator is asked and what it answers: one expansion of one parent (the Operator protocol that
asks and answers is in protocols.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

from kernelevolve.core.types import Candidate, Node


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExpansionRequest:
    """One request to expand a parent.

    Attributes:
        parent: the node to improve (its code, verdict, timings).
        inspirations: other good or diverse nodes from the population.
        seen_sources: hashes (`source_hash`: sha256 of the source, line endings and trailing blanks normalized)
            already in the graph, so an operator can avoid proposing a duplicate.
        seed: seeds the operator's own randomness for this request (reproducible expansions).
        rank: how many other expansions of the same parent were in flight when this one started. Concurrent
            expansions saw the same graph, so an operator with a ranked list of moves takes its rank-th unseen
            move and concurrent expansions of one parent propose different sources.
        ancestors: the parent's own parent first, up to its root (capped), with their verdicts.
        relatives: the evaluated children of the parent and of each ancestor, off that path (capped): what the
            moves beside the lineage did, so an operator can follow a move that raised fitness and avoid one
            that lowered it. All of it is in the request, none in operator memory, so a local operator and
            several Ray expanders answer a request alike, and so does a resumed run.
    """

    parent: Node
    inspirations: list[Node]
    seen_sources: frozenset[str]
    seed: int
    rank: int = 0
    ancestors: list[Node] = dataclasses.field(default_factory=list)
    relatives: list[Node] = dataclasses.field(default_factory=list)

    @property
    def grandparent(self) -> Node | None:
        """Returns the parent's own parent (None for a root)."""
        return self.ancestors[0] if self.ancestors else None

    @property
    def parent_siblings(self) -> list[Node]:
        """Returns the grandparent's other evaluated children."""
        gp = self.grandparent
        return [] if gp is None else [n for n in self.relatives if n.parent_id == gp.id and n.id != self.parent.id]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Expansion:
    """An operator's answer: a candidate, or why there is none (a failed expansion, not a crash).

    Attributes:
        candidate: the proposed kernel, None when the operator produced no usable code.
        failure: why there is no candidate.
        llm_calls: one dict per LLM call (model, prompt, response, tokens_in, tokens_out, tokens_cached,
            cost_usd, latency_s), stored with the node.
    """

    candidate: Candidate | None
    failure: str | None = None
    llm_calls: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def tokens(self) -> int:
        """Returns the tokens spent (in + out) on this expansion."""
        return sum(int(c.get("tokens_in", 0)) + int(c.get("tokens_out", 0)) for c in self.llm_calls)

    @property
    def dollars(self) -> float:
        """Returns the estimated cost of this expansion, US dollars."""
        return sum(float(c.get("cost_usd", 0.0)) for c in self.llm_calls)
