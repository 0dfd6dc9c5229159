"""MCTS over the search graph: UCT descent, max backup, progressive widening and virtual loss.

Every node is both an inner node and a candidate for expansion. Selection starts at a virtual root
above the graph's roots and, at each node, either expands it (while it has fewer children than
progressive widening allows) or descends into the child of highest UCT score

    UCT(c) = Q'(c) / F_best + C * sqrt(ln N'(v) / N'(c))

where Q(c) is the best fitness in c's subtree (the graph backs it up on each verdict), N the
evaluated nodes in a subtree, and the primes add virtual loss: an expansion in flight below c counts
as one more visit with reward 0 (N' = N + L, Q' = Q * N / N'), so concurrent selections spread out
instead of piling onto one node. Buggy nodes (F = 0) are visits with reward 0; they are expanded
(a repair attempt) only when `expand_buggy`. Pending nodes (verdict not in yet) are never chosen.

The policy keeps no state: a selection is a function of the graph and the in-flight parents.
Ties go to the lowest id, so it draws nothing from `rng`.
"""

from __future__ import annotations

import collections
import dataclasses
import math

import numpy as np

from kernelevolve.core.types import Node, NodeState
from kernelevolve.search.config import MctsConfig
from kernelevolve.search.graph import Graph


@dataclasses.dataclass(frozen=True)
class _Scale:
    """Min-max normalization of fitness over the graph's correct nodes (buggy nodes map to 0)."""

    low: float
    high: float

    @staticmethod
    def of(graph: Graph) -> _Scale:
        if graph.n_correct == 0:
            return _Scale(0.0, 1.0)
        high = graph.ranked_at(0).score
        low = graph.ranked_at(graph.n_correct - 1).score
        return _Scale(low if high > low else 0.0, high if high > 0 else 1.0)

    def normalize(self, fitness: float) -> float:
        """Returns fitness mapped to [0, 1]: the worst correct node 0, the best 1."""
        return max(0.0, (fitness - self.low) / (self.high - self.low))


class MctsPolicy:
    """UCT selection with max backup and virtual loss (see the module docstring)."""

    def __init__(self, config: MctsConfig | None = None) -> None:
        self.config = config or MctsConfig()
        if self.config.c < 0:
            raise ValueError(f"mcts.c must be >= 0, got {self.config.c}")
        if self.config.widen_k <= 0 or not 0.0 <= self.config.widen_alpha <= 1.0:
            raise ValueError(f"need mcts.widen_k > 0 and 0 <= widen_alpha <= 1, got {self.config}")

    def select(self, graph: Graph, k: int, in_flight: list[int], rng: np.random.Generator) -> list[Node]:
        """Returns up to k parents, adding a virtual loss after each so the next descent goes elsewhere."""
        del rng  # deterministic given the graph (lowest id wins ties)
        loss = self.virtual_loss(graph, in_flight)
        direct = collections.Counter(in_flight)
        chosen: list[Node] = []
        for _ in range(k):
            node = self.descend(graph, loss, direct)
            if node is None:
                break
            chosen.append(node)
            direct[node.id] += 1
            self._add_loss(graph, loss, node.id)
        return chosen

    def inspirations(self, graph: Graph, parent: Node, n: int, rng: np.random.Generator) -> list[Node]:
        """Returns the best n correct nodes outside the parent's own lineage (other branches' ideas)."""
        del rng
        lineage = set(graph.lineage_ids(parent.id))
        out = [x for x in graph.ranked(4 * n + len(lineage)) if x.id not in lineage][:n]
        if len(out) < n:  # a narrow tree: fall back to the best nodes at all
            out += [x for x in graph.ranked(n + 1) if x.id != parent.id and x not in out][: n - len(out)]
        return out

    @staticmethod
    def virtual_loss(graph: Graph, in_flight: list[int]) -> collections.Counter[int | None]:
        """Returns, per node (None = the virtual root), the expansions in flight in its subtree."""
        loss: collections.Counter[int | None] = collections.Counter()
        for parent in in_flight:
            MctsPolicy._add_loss(graph, loss, parent)
        return loss

    @staticmethod
    def _add_loss(graph: Graph, loss: collections.Counter[int | None], node_id: int) -> None:
        loss[None] += 1
        loss.update(graph.lineage_ids(node_id))

    def descend(self, graph: Graph, loss: collections.Counter[int | None],
                direct: collections.Counter[int]) -> Node | None:
        """Returns the node to expand: walks down by UCT until a node may still widen."""
        scale = _Scale.of(graph)
        node: Node | None = None
        for _ in range(len(graph) + 1):  # each turn goes one level down: bounded by the node count
            if node is not None and self._may_widen(graph, node, loss, direct):
                return node
            options = [c for c in graph.children(node.id if node else None) if self._descendable(graph, c)]
            if not options:
                return node if node is not None and self._expandable(node) else None
            parent_n = self._visits(graph, node, loss)
            node = max(options, key=lambda c: (self.uct(graph, c, parent_n, loss, scale), -c.id))
        return node

    def uct(self, graph: Graph, child: Node, parent_n: int, loss: collections.Counter[int | None],
            scale: _Scale) -> float:
        """Returns the UCT score of a child with virtual loss applied (see the module docstring)."""
        stats = graph.stats(child.id)
        n_eff = stats.visits + loss[child.id]
        q_eff = scale.normalize(stats.best) * stats.visits / n_eff
        return q_eff + self.config.c * math.sqrt(math.log(max(parent_n, 1)) / n_eff)

    @staticmethod
    def _visits(graph: Graph, node: Node | None, loss: collections.Counter[int | None]) -> int:
        if node is None:
            return sum(graph.stats(r.id).visits for r in graph.roots()) + loss[None]
        return graph.stats(node.id).visits + loss[node.id]

    def _may_widen(self, graph: Graph, node: Node, loss: collections.Counter[int | None],
                   direct: collections.Counter[int]) -> bool:
        if not self._expandable(node):
            return False
        if node.is_buggy:  # one repair attempt per buggy node; its subtree then competes like any other
            return graph.stats(node.id).children + direct[node.id] < 1
        allowed = max(1, math.floor(self.config.widen_k * self._visits(graph, node, loss) ** self.config.widen_alpha))
        return graph.stats(node.id).children + direct[node.id] < allowed

    def _expandable(self, node: Node) -> bool:
        return node.state is NodeState.EVALUATED and (self.config.expand_buggy or not node.is_buggy)

    def _descendable(self, graph: Graph, node: Node) -> bool:
        """A child can be walked into when it has a verdict and it, or something below it, may be expanded."""
        if node.state is not NodeState.EVALUATED:
            return False
        stats = graph.stats(node.id)
        below = stats.children > 0 and (self.config.expand_buggy or stats.best > 0)
        return self._expandable(node) or below
