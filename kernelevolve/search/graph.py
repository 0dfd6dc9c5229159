"""The search graph G = (V, E): one node per candidate, an edge per "generated from", with per-node stats.

The graph is the whole state the policies read. Everything in it is a function of the nodes, the
expansion step that produced each node and the order in which verdicts arrived, all of which the
store persists, so a resumed run rebuilds exactly the graph it had (see controller.restore_graph).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterator

from kernelevolve.core.types import EvalResult, Node, NodeState


@dataclasses.dataclass(kw_only=True)
class NodeStats:
    """Bookkeeping the policies need, updated incrementally as verdicts arrive.

    Attributes:
        visits: evaluated nodes in the subtree rooted here, this node included (MCTS visit count N).
        best: best fitness F in that subtree (max backup; buggy nodes contribute 0).
        children: direct children, whatever their state.
        step: the expansion step that produced the node (None for roots: seeds and warm starts).
        eval_seq: position of the node's verdict in arrival order (None until evaluated).
    """

    visits: int = 0
    best: float = 0.0
    children: int = 0
    step: int | None = None
    eval_seq: int | None = None


class Graph:
    """Holds nodes by id with their children, stats, and the ranking of correct nodes.

    Attributes:
        next_step: number of the next expansion step; the controller advances it each time it starts
            an expansion. Policies may read it (islands take turns by step); the store persists it.
    """

    def __init__(self) -> None:
        self._nodes: dict[int, Node] = {}
        self._children: dict[int | None, list[int]] = {}
        self._stats: dict[int, NodeStats] = {}
        self._ranked: list[tuple[float, int]] = []  # (-score, id) of correct nodes, ascending = best first
        self._eval_order: list[int] = []
        self._parent: dict[int, int | None] = {}
        self.next_step = 0

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_id: int) -> bool:
        return node_id in self._nodes

    def add(self, node: Node, *, step: int | None = None) -> None:
        """Adds a node (its parent, when given, must be present); an already evaluated node is recorded too."""
        if node.id in self._nodes:
            raise ValueError(f"node {node.id} is already in the graph")
        if node.parent_id is not None and node.parent_id not in self._nodes:
            raise ValueError(f"node {node.id} names parent {node.parent_id}, which is not in the graph")
        self._nodes[node.id] = node
        self._parent[node.id] = node.parent_id
        self._children.setdefault(node.parent_id, []).append(node.id)
        self._stats[node.id] = NodeStats(step=step)
        if node.parent_id is not None:
            self._stats[node.parent_id].children += 1
        if node.state is NodeState.EVALUATED and node.result is not None:
            self._register_verdict(node)

    def record(self, node_id: int, result: EvalResult) -> Node:
        """Stores a node's verdict, backs its visit and fitness up to the roots, and returns the node."""
        node = self._nodes[node_id]
        if node.state is NodeState.EVALUATED:
            raise ValueError(f"node {node_id} already has a verdict; a node is evaluated once")
        node.result = result
        node.state = NodeState.EVALUATED
        self._register_verdict(node)
        return node

    def _register_verdict(self, node: Node) -> None:
        self._stats[node.id].eval_seq = len(self._eval_order)
        self._eval_order.append(node.id)
        score = node.score
        if not node.is_buggy:
            bisect.insort(self._ranked, (-score, node.id))
        current: int | None = node.id
        while current is not None:  # backpropagation: O(depth)
            stats = self._stats[current]
            stats.visits += 1
            stats.best = max(stats.best, score)
            current = self._nodes[current].parent_id

    def get(self, node_id: int) -> Node:
        """Returns the node with this id."""
        return self._nodes[node_id]

    def stats(self, node_id: int) -> NodeStats:
        """Returns the live stats of a node (do not mutate)."""
        return self._stats[node_id]

    def nodes(self) -> Iterator[Node]:
        """Yields nodes in insertion (id) order."""
        return iter(self._nodes.values())

    def children(self, node_id: int | None) -> list[Node]:
        """Returns the children of a node (None: the roots), in id order."""
        return [self._nodes[i] for i in self._children.get(node_id, [])]

    def roots(self) -> list[Node]:
        """Returns the nodes without a parent (seeds and warm starts)."""
        return self.children(None)

    def evaluated(self) -> list[Node]:
        """Returns the nodes that have a verdict, in id order."""
        return [n for n in self._nodes.values() if n.state is NodeState.EVALUATED]

    def eval_order(self, start: int = 0) -> list[int]:
        """Returns node ids in the order their verdicts arrived, from position `start` on."""
        return self._eval_order[start:]

    @property
    def n_evaluated(self) -> int:
        """Returns how many nodes have a verdict."""
        return len(self._eval_order)

    def correct(self) -> list[Node]:
        """Returns the evaluated, non-buggy nodes in id order."""
        return sorted((self._nodes[i] for _, i in self._ranked), key=lambda n: n.id)

    def ranked(self, limit: int | None = None) -> list[Node]:
        """Returns correct nodes best first (fitness descending, lowest id on ties); O(limit)."""
        keys = self._ranked if limit is None else self._ranked[:limit]
        return [self._nodes[i] for _, i in keys]

    @property
    def n_correct(self) -> int:
        """Returns how many evaluated nodes are correct."""
        return len(self._ranked)

    def ranked_at(self, index: int) -> Node:
        """Returns the correct node of this rank (0 = best)."""
        return self._nodes[self._ranked[index][1]]

    def best(self) -> Node | None:
        """Returns the correct node of highest fitness (lowest id on ties), or None."""
        return self._nodes[self._ranked[0][1]] if self._ranked else None

    def lineage_ids(self, node_id: int) -> list[int]:
        """Returns the ids from the node itself up to its root (a tight loop: policies call it per step)."""
        parent = self._parent
        out = [node_id]
        current = parent[node_id]
        while current is not None:
            out.append(current)
            current = parent[current]
        return out

    def ancestors(self, node_id: int) -> list[Node]:
        """Returns the lineage from the node's parent up to its root."""
        out: list[Node] = []
        parent = self._nodes[node_id].parent_id
        while parent is not None:
            out.append(self._nodes[parent])
            parent = self._nodes[parent].parent_id
        return out
