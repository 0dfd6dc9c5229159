"""The selection-policy protocol π."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from kernelevolve.core.types import Node
from kernelevolve.search.graph import Graph


@runtime_checkable
class Policy(Protocol):
    """Chooses which nodes to expand next. This is the whole surface a policy implements.

    `select` must be a pure function of the graph, the in-flight parents and `rng`, so the same seed
    and the same evaluation results give the same trace.
    """

    def select(self, graph: Graph, k: int, in_flight: list[int], rng: np.random.Generator) -> list[Node]:
        """Returns up to k parents to expand (repeats allowed); `in_flight` lists parents being expanded."""
        ...

    def inspirations(self, graph: Graph, parent: Node, n: int, rng: np.random.Generator) -> list[Node]:
        """Returns up to n other good or diverse nodes to show the operator beside the parent."""
        ...
