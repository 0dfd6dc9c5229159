"""The selection-policy protocol π."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from kernelevolve.core.types import Node
from kernelevolve.search.graph import Graph


@runtime_checkable
class Policy(Protocol):
    """Chooses which nodes to expand next. This is the whole surface a policy implements.

    `select` and `inspirations` must be pure functions of the graph (its nodes, stats, verdict order
    and `next_step`), the in-flight parents and `rng`: no state of their own beyond memos of that
    function. The controller derives `rng` from (run seed, step) (search/rng.py), so the same seed
    and the same evaluation results give the same trace, and a resumed run continues it exactly.
    """

    def select(self, graph: Graph, k: int, in_flight: list[int], rng: np.random.Generator) -> list[Node]:
        """Returns up to k parents to expand (repeats allowed); `in_flight` lists parents being expanded."""
        ...

    def inspirations(self, graph: Graph, parent: Node, n: int, rng: np.random.Generator) -> list[Node]:
        """Returns up to n other good or diverse nodes to show the operator beside the parent."""
        ...
