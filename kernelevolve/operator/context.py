"""Context memory: what the operator knows when it expands a parent.

`NodeHistory` remembers every node the operator has been shown (parents, inspirations, and nodes the
controller reports through `observe`), so it can answer lineage questions without the archive.
`build_context` gathers, for one request: the parent's code and verdict (trimmed error, mismatch
statistics, per-shape timings, metrics), the diagnosis, the lineage's best and worst attempts,
recent failures of siblings, and inspirations from the population.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from kernelevolve.core.types import Node
from kernelevolve.operator.diagnosis import Finding, diagnose, mismatch_summary
from kernelevolve.operator.expansion import ExpansionRequest

_NOISE = ("site-packages", "/lib/python", "importlib._bootstrap")  # traceback frames the model cannot act on


@dataclasses.dataclass(frozen=True, kw_only=True)
class ContextLimits:
    """How much of each part of the context the prompt may hold.

    Attributes:
        error_chars: most characters of a compile log or traceback (its tail is kept).
        source_chars: most characters of an inspiration's source.
        lineage: most ancestors listed.
        siblings: most failed siblings listed (the most recent).
        inspirations: most inspirations shown with their code.
    """

    error_chars: int = 3000
    source_chars: int = 6000
    lineage: int = 6
    siblings: int = 3
    inspirations: int = 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class NodeView:
    """What the prompt shows of one node."""

    id: int
    parent_id: int | None
    status: str
    score: float
    note: str
    reason: str
    source: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Context:
    """Everything the prompt templates render for one expansion."""

    task: str
    description: str
    platform: str
    parent: NodeView
    parent_source: str
    error: str
    mismatch: str
    timings: list[dict[str, Any]]
    metrics: dict[str, float]
    diagnosis: list[Finding]
    lineage: list[NodeView]
    lineage_best: NodeView | None
    lineage_worst: NodeView | None
    sibling_failures: list[NodeView]
    inspirations: list[NodeView]


class NodeHistory:
    """A thread-safe memory of evaluated nodes, by id (the newest copy of a node wins)."""

    def __init__(self) -> None:
        self._nodes: dict[int, Node] = {}
        self._lock = threading.Lock()

    def add(self, node: Node) -> None:
        """Remembers a node (replacing an older, e.g. unevaluated, copy)."""
        with self._lock:
            known = self._nodes.get(node.id)
            if known is None or known.result is None or node.result is not None:
                self._nodes[node.id] = node

    def get(self, node_id: int | None) -> Node | None:
        """Returns the remembered node with that id, or None."""
        with self._lock:
            return self._nodes.get(node_id) if node_id is not None else None

    def ancestors(self, node: Node, limit: int) -> list[Node]:
        """Returns up to `limit` known ancestors of `node`, nearest first."""
        out: list[Node] = []
        seen = {node.id}  # a corrupt parent cycle must not loop
        current = self.get(node.parent_id)
        while current is not None and len(out) < limit and current.id not in seen:
            out.append(current)
            seen.add(current.id)
            current = self.get(current.parent_id)
        return out

    def children(self, parent_id: int) -> list[Node]:
        """Returns the known evaluated children of a node, oldest first."""
        with self._lock:
            kids = [n for n in self._nodes.values() if n.parent_id == parent_id and n.result is not None]
        return sorted(kids, key=lambda n: (n.created_at, n.id))


def view(node: Node, *, source_chars: int = 0) -> NodeView:
    """Returns the prompt's view of a node (with its source cut to `source_chars`, 0 for none)."""
    r = node.result
    status = str(r.status) if r is not None else str(node.state)
    return NodeView(id=node.id, parent_id=node.parent_id, status=status, score=node.score,
                    note=node.candidate.note, reason=(r.reason if r is not None else "")[:300],
                    source=node.candidate.source[:source_chars] if source_chars else "")


def trim_error(text: str | None, max_chars: int) -> str:
    """Returns a traceback or compile log without library frames, cut to its last `max_chars` characters."""
    if not text:
        return ""
    kept: list[str] = []
    skip_next = False
    for line in text.splitlines():
        if skip_next:
            skip_next = False
            continue
        if line.lstrip().startswith("File ") and any(n in line for n in _NOISE):
            skip_next = True  # the frame's code line follows
            continue
        kept.append(line)
    out = "\n".join(kept).strip()
    return out if len(out) <= max_chars else "...\n" + out[-max_chars:]


def build_context(request: ExpansionRequest, history: NodeHistory, *, task: str, description: str,
                  platform: str, shapes: dict[str, dict[str, Any]], limits: ContextLimits) -> Context:
    """Returns the context of one expansion (pure apart from reading `history`)."""
    parent = request.parent
    r = parent.result
    lineage = [parent, *history.ancestors(parent, limits.lineage)]
    scored = [n for n in lineage if n.result is not None]
    siblings = [n for n in history.children(parent.id) if n.is_buggy][-limits.siblings:]
    return Context(
        task=task, description=description, platform=platform,
        parent=view(parent), parent_source=parent.candidate.source,
        error=trim_error(r.error if r else None, limits.error_chars),
        mismatch=mismatch_summary(r.mismatch) if r is not None and r.mismatch is not None else "",
        timings=[{"shape": t.shape, "candidate_ms": t.candidate_ms, "baseline_ms": t.baseline_ms,
                  "speedup": t.speedup} for t in (r.timings if r else [])],
        metrics=dict(r.metrics) if r else {},
        diagnosis=diagnose(r, parent.candidate.source, shapes),
        lineage=[view(n) for n in lineage[1:]],
        lineage_best=view(max(scored, key=lambda n: n.score)) if scored else None,
        lineage_worst=view(min(scored, key=lambda n: (n.score, -n.id))) if scored else None,
        sibling_failures=[view(n) for n in siblings],
        inspirations=[view(n, source_chars=limits.source_chars)
                      for n in request.inspirations[:limits.inspirations] if n.id != parent.id],
    )
