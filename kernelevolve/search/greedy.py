"""Greedy selection: expand the best nodes, with an exploration share so one lineage cannot lock in."""

from __future__ import annotations

import numpy as np

from kernelevolve.core.types import Node
from kernelevolve.search.graph import Graph


class GreedyPolicy:
    """Picks among the top_k correct nodes, or (with probability `exploration`) any correct node."""

    def __init__(self, *, top_k: int = 3, exploration: float = 0.2) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if not 0.0 <= exploration <= 1.0:
            raise ValueError(f"exploration must be in [0, 1], got {exploration}")
        self._top_k = top_k
        self._exploration = exploration

    def select(self, graph: Graph, k: int, in_flight: list[int], rng: np.random.Generator) -> list[Node]:
        """Returns k parents; each is the least-busy of the top nodes, or a random correct node."""
        n_correct = graph.n_correct
        if n_correct == 0:
            return []
        top = graph.ranked(self._top_k)
        busy = list(in_flight)
        chosen: list[Node] = []
        for _ in range(k):
            if n_correct > 1 and rng.random() < self._exploration:
                node = graph.ranked_at(int(rng.integers(n_correct)))
            else:
                # Prefer the best node that is not already being expanded, so concurrent
                # expansions spread over the top nodes instead of piling onto one.
                node = min(top, key=lambda n: (busy.count(n.id), -n.score, n.id))
            chosen.append(node)
            busy.append(node.id)
        return chosen

    def inspirations(self, graph: Graph, parent: Node, n: int, rng: np.random.Generator) -> list[Node]:
        """Returns the best n correct nodes other than the parent."""
        del rng  # deterministic: the best nodes
        return [x for x in graph.ranked(n + 1) if x.id != parent.id][:n]
