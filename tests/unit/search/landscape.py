"""A synthetic fitness landscape and a sequential driver, to test policies without an LLM or a GPU.

States are integers 0..40; a child is its parent's value plus a step drawn from the step's generator.
The fitness climbs to the optimum at 32 (F = 4.0); the deceptive variant adds a local optimum at 10
(F = 1.5) behind a shallow valley. Multiples of 7 are buggy (F = 0), like kernels that fail to compile.
"""

from __future__ import annotations

from kernelevolve.core.types import Candidate, EvalResult, EvalStatus, Node
from kernelevolve.search.graph import Graph
from kernelevolve.search.rng import step_rng

OPTIMUM = 32
TOP = 40


def fitness(x: int, *, deceptive: bool = False) -> float:
    """Returns F(x): 0 for buggy states, else a slope up to 32 (plus a local peak at 10 if deceptive)."""
    if x % 7 == 0:
        return 0.0
    local = 1.5 - abs(x - 10) * 0.2 if deceptive else 0.0
    return max(local, 4.0 - abs(x - OPTIMUM) * 0.15, 0.1)


def verdict(x: int, *, deceptive: bool = False) -> EvalResult:
    """Returns the evaluation of state x."""
    f = fitness(x, deceptive=deceptive)
    if f == 0.0:
        return EvalResult(status=EvalStatus.COMPILE_ERROR, reason="multiple of 7")
    return EvalResult(status=EvalStatus.OK, fitness=f)


def value(node: Node) -> int:
    """Returns the integer state a node stands for."""
    return int(node.candidate.source)


def add_node(graph: Graph, x: int, parent: Node | None, step: int | None, *, evaluate: bool = True,
             deceptive: bool = False) -> Node:
    """Adds state x under parent (evaluated unless told otherwise) and returns the node."""
    node = Node(id=len(graph), parent_id=None if parent is None else parent.id,
                candidate=Candidate(source=str(x), parent_id=None if parent is None else parent.id, origin="t"))
    graph.add(node, step=step)
    if evaluate:
        graph.record(node.id, verdict(x, deceptive=deceptive))
    return node


def search(policy, *, budget: int, seed: int, start: int = 3,
           deceptive: bool = False) -> tuple[Graph, list[tuple[int, int, int]]]:
    """Runs `budget` sequential expansions; returns the graph and the trace (step, parent id, child state)."""
    graph = Graph()
    add_node(graph, start, None, None, deceptive=deceptive)
    trace = []
    for step in range(budget):
        rng = step_rng(seed, step)
        parents = policy.select(graph, 1, [], rng)
        if not parents:
            break
        policy.inspirations(graph, parents[0], 2, rng)
        child = min(TOP, max(0, value(parents[0]) + int(rng.integers(-3, 4))))
        graph.next_step = step + 1
        add_node(graph, child, parents[0], step, deceptive=deceptive)
        trace.append((step, parents[0].id, child))
    return graph, trace
