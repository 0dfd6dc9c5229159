"""The search graph G = (V, E): one node per candidate, an edge per "generated from"."""

from __future__ import annotations

from collections.abc import Iterator

from kernelevolve.core.types import Node, NodeState


class Graph:
    """Holds nodes by id with their children; the single in-memory view the policies read."""

    def __init__(self) -> None:
        self._nodes: dict[int, Node] = {}
        self._children: dict[int | None, list[int]] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_id: int) -> bool:
        return node_id in self._nodes

    def add(self, node: Node) -> None:
        """Adds a node; its parent, when given, must already be in the graph."""
        if node.id in self._nodes:
            raise ValueError(f"node {node.id} is already in the graph")
        if node.parent_id is not None and node.parent_id not in self._nodes:
            raise ValueError(f"node {node.id} names parent {node.parent_id}, which is not in the graph")
        self._nodes[node.id] = node
        self._children.setdefault(node.parent_id, []).append(node.id)

    def get(self, node_id: int) -> Node:
        """Returns the node with this id."""
        return self._nodes[node_id]

    def nodes(self) -> Iterator[Node]:
        """Yields nodes in insertion (id) order."""
        return iter(self._nodes.values())

    def children(self, node_id: int | None) -> list[Node]:
        """Returns the children of a node (None: the roots)."""
        return [self._nodes[i] for i in self._children.get(node_id, [])]

    def evaluated(self) -> list[Node]:
        """Returns the nodes that have a verdict."""
        return [n for n in self._nodes.values() if n.state is NodeState.EVALUATED]

    def correct(self) -> list[Node]:
        """Returns the evaluated, non-buggy nodes."""
        return [n for n in self.evaluated() if not n.is_buggy]

    def best(self) -> Node | None:
        """Returns the correct node of highest fitness (lowest id on ties), or None."""
        correct = self.correct()
        return max(correct, key=lambda n: (n.score, -n.id)) if correct else None

    def ancestors(self, node_id: int) -> list[Node]:
        """Returns the lineage from the node's parent up to its root."""
        out: list[Node] = []
        parent = self._nodes[node_id].parent_id
        while parent is not None:
            out.append(self._nodes[parent])
            parent = self._nodes[parent].parent_id
        return out
