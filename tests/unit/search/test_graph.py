"""The graph keeps per-node stats (visits, best descendant, children) and the ranking incrementally."""

from __future__ import annotations

import pytest

from kernelevolve.core.types import EvalResult, EvalStatus, NodeState
from kernelevolve.search.graph import Graph
from tests.unit.search.landscape import add_node


def _chain() -> Graph:
    graph = Graph()
    root = add_node(graph, 30, None, None)          # F = 3.7
    a = add_node(graph, 20, root, 0)                # F = 2.2
    add_node(graph, 32, a, 1)                       # F = 4.0 (the optimum, below a)
    add_node(graph, 14, root, 2)                    # buggy
    add_node(graph, 31, root, 3, evaluate=False)    # pending
    return graph


def test_visits_count_evaluated_nodes_of_the_subtree_and_best_is_backed_up():
    graph = _chain()
    assert [graph.stats(i).visits for i in range(5)] == [4, 2, 1, 1, 0]
    assert graph.stats(0).best == pytest.approx(4.0) and graph.stats(1).best == pytest.approx(4.0)
    assert graph.stats(3).best == 0.0, "a buggy node backs up F = 0"
    assert [graph.stats(i).children for i in range(5)] == [3, 1, 0, 0, 0]


def test_ranking_is_best_first_with_lowest_id_on_ties_and_skips_buggy_and_pending():
    graph = _chain()
    add_node(graph, 32, graph.get(0), 4)  # same fitness as node 2
    assert [n.id for n in graph.ranked()] == [2, 5, 0, 1]
    assert graph.best().id == 2
    assert [n.id for n in graph.correct()] == [0, 1, 2, 5]
    assert graph.n_correct == 4 and graph.ranked_at(3).id == 1


def test_a_node_gets_one_verdict_only():
    graph = _chain()
    with pytest.raises(ValueError, match="already has a verdict"):
        graph.record(2, EvalResult(status=EvalStatus.OK, fitness=9.0))
    node = graph.record(4, EvalResult(status=EvalStatus.TIMEOUT))
    assert node.state is NodeState.EVALUATED and node.is_buggy
    assert graph.eval_order() == [0, 1, 2, 3, 4] and graph.eval_order(3) == [3, 4]
    assert graph.stats(4).eval_seq == 4


def test_parents_must_exist_and_ids_are_unique():
    graph = _chain()
    with pytest.raises(ValueError, match="already in the graph"):
        graph.add(graph.get(0))
    orphan = graph.get(1)
    with pytest.raises(ValueError, match="not in the graph"):
        Graph().add(orphan)


def test_ancestors_walk_up_to_the_root():
    graph = _chain()
    assert [n.id for n in graph.ancestors(2)] == [1, 0]
    assert graph.ancestors(0) == []
    assert [n.id for n in graph.roots()] == [0]
