"""Evolutionary selection: islands with their own populations, tournament or fitness-proportional parents,
and periodic ring migration of each island's best.

Island membership is derived from the graph, so the policy needs no persisted state:
- a node made by expansion step s is native to island s % islands (step s works on that island);
- roots (seeds, warm starts) belong to every island;
- every `migration_interval` verdicts (in arrival order), the best `migrants` members of island i
  join island (i + 1) % islands as well.
The derived membership is cached per graph and extended incrementally as verdicts arrive; the cache
is a memo of a pure function of the graph, rebuilt when a different graph is passed.
"""

from __future__ import annotations

import bisect

import numpy as np

from kernelevolve.core.types import Node
from kernelevolve.search.config import EvolutionaryConfig, ParentSelection
from kernelevolve.search.graph import Graph


class _Islands:
    """Members of each island as sorted (-score, id) keys, built from a graph's verdict order."""

    def __init__(self, graph: Graph, n_islands: int) -> None:
        self.graph = graph
        self.members: list[list[tuple[float, int]]] = [[] for _ in range(n_islands)]
        self.processed = 0


class EvolutionaryPolicy:
    """Island-model selection (see the module docstring)."""

    def __init__(self, config: EvolutionaryConfig | None = None) -> None:
        self.config = config or EvolutionaryConfig()
        c = self.config
        if c.islands < 1 or c.population < 1 or c.tournament_size < 1 or c.migrants < 0 or c.migration_interval < 0:
            raise ValueError(f"evolutionary settings must be positive (migrants/interval >= 0), got {c}")
        self._cache: _Islands | None = None

    def island_of(self, graph: Graph, node_id: int) -> int | None:
        """Returns the node's native island, or None for a root (a member of every island)."""
        step = graph.stats(node_id).step
        return None if step is None else step % self.config.islands

    def members(self, graph: Graph, island: int) -> list[Node]:
        """Returns the correct members of an island (native, migrants and roots), best first."""
        return [graph.get(i) for _, i in self._islands(graph).members[island]]

    def select(self, graph: Graph, k: int, in_flight: list[int], rng: np.random.Generator) -> list[Node]:
        """Returns k parents; the j-th comes from island (graph.next_step + j) % islands."""
        del in_flight  # islands take turns by step, which already spreads concurrent expansions
        islands = self._islands(graph)
        chosen: list[Node] = []
        for j in range(k):
            island = (graph.next_step + j) % self.config.islands
            pool = islands.members[island][: self.config.population]
            if not pool:  # an island that has no correct member yet starts from the best nodes
                pool = [(-n.score, n.id) for n in graph.ranked(self.config.population)]
            if not pool:
                return chosen
            chosen.append(graph.get(pool[self._pick(pool, rng)][1]))
        return chosen

    def _pick(self, pool: list[tuple[float, int]], rng: np.random.Generator) -> int:
        """Returns the index of the parent in a best-first pool."""
        if self.config.selection is ParentSelection.tournament:
            return int(rng.integers(len(pool), size=self.config.tournament_size).min())
        fitness = np.array([-key for key, _ in pool], dtype=float)
        if fitness.sum() <= 0:
            return int(rng.integers(len(pool)))
        return int(rng.choice(len(pool), p=fitness / fitness.sum()))

    def inspirations(self, graph: Graph, parent: Node, n: int, rng: np.random.Generator) -> list[Node]:
        """Returns n nodes beside the parent: the global best half, then the best of other islands
        (diversity), topped up with random correct nodes."""
        out: list[Node] = []
        taken = {parent.id}
        for node in graph.ranked((n + 1) // 2 + 1):
            if len(out) < (n + 1) // 2 and node.id not in taken:
                out.append(node)
                taken.add(node.id)
        home = self.island_of(graph, parent.id) or 0
        islands = self._islands(graph)
        for offset in range(1, self.config.islands):
            members = islands.members[(home + offset) % self.config.islands]
            best = next((i for _, i in members if i not in taken), None)
            if len(out) < n and best is not None:
                out.append(graph.get(best))
                taken.add(best)
        for index in rng.permutation(graph.n_correct)[: 4 * n]:
            node = graph.ranked_at(int(index))
            if len(out) < n and node.id not in taken:
                out.append(node)
                taken.add(node.id)
        return out

    def _islands(self, graph: Graph) -> _Islands:
        """Returns island membership for this graph, extended with the verdicts that arrived since."""
        if self._cache is None or self._cache.graph is not graph or self._cache.processed > graph.n_evaluated:
            self._cache = _Islands(graph, self.config.islands)
        cache = self._cache
        for node_id in graph.eval_order(cache.processed):
            node = graph.get(node_id)
            if not node.is_buggy:
                island = self.island_of(graph, node_id)
                targets = range(self.config.islands) if island is None else (island,)
                for target in targets:
                    bisect.insort(cache.members[target], (-node.score, node_id))
            cache.processed += 1
            interval = self.config.migration_interval
            if interval and cache.processed % interval == 0:
                self._migrate(cache)
        return cache

    def _migrate(self, cache: _Islands) -> None:
        """Copies each island's best members to the next island (from a snapshot taken before any move)."""
        n = self.config.islands
        moving = [list(members[: self.config.migrants]) for members in cache.members]
        for island, keys in enumerate(moving):
            target = cache.members[(island + 1) % n]
            for key in keys:
                if key not in target:
                    bisect.insort(target, key)
