"""Greedy: climbs to the optimum, explores enough to leave a local optimum, spreads concurrent picks."""

from __future__ import annotations

import numpy as np
import pytest

from kernelevolve.search.greedy import GreedyPolicy
from kernelevolve.search.protocols import Policy
from tests.unit.search.landscape import OPTIMUM, add_node, search, value


def test_conforms_to_the_policy_protocol():
    assert isinstance(GreedyPolicy(), Policy)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_the_optimum_of_the_landscape_within_budget(seed):
    graph, _ = search(GreedyPolicy(top_k=3, exploration=0.2), budget=120, seed=seed)
    assert value(graph.best()) == OPTIMUM


def test_exploration_escapes_a_local_optimum_that_pure_greed_cannot():
    stuck = [value(search(GreedyPolicy(top_k=3, exploration=0.0), budget=300, seed=s, deceptive=True)[0].best())
             for s in range(3)]
    explored = [value(search(GreedyPolicy(top_k=3, exploration=0.2), budget=300, seed=s, deceptive=True)[0].best())
                for s in range(2)]
    assert stuck == [10, 10, 10]
    assert explored == [OPTIMUM, OPTIMUM]


def test_exploration_share_is_respected():
    graph, _ = search(GreedyPolicy(), budget=60, seed=0)
    policy = GreedyPolicy(top_k=1, exploration=0.5)
    best = graph.best()
    picks = [policy.select(graph, 1, [], np.random.default_rng(i))[0] for i in range(400)]
    share = sum(p.id != best.id for p in picks) / len(picks)
    assert 0.4 < share < 0.55  # 0.5 * (1 - 1/n_correct) off the best


def test_concurrent_picks_spread_over_the_top_nodes():
    graph, _ = search(GreedyPolicy(), budget=30, seed=0)
    top = [n.id for n in graph.ranked(3)]
    picks = GreedyPolicy(top_k=3, exploration=0.0).select(graph, 3, [top[0]], np.random.default_rng(0))
    assert [p.id for p in picks] == [top[1], top[2], top[0]]


def test_no_correct_node_means_nothing_to_select():
    from kernelevolve.search.graph import Graph

    graph = Graph()
    add_node(graph, 14, None, None)  # buggy seed
    assert GreedyPolicy().select(graph, 2, [], np.random.default_rng(0)) == []


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="top_k"):
        GreedyPolicy(top_k=0)
    with pytest.raises(ValueError, match="exploration"):
        GreedyPolicy(exploration=1.5)
