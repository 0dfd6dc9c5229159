"""MCTS: finds the optimum, descends by UCT, backs up the best descendant, spreads concurrent picks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernelevolve.search.config import MctsConfig
from kernelevolve.search.graph import Graph
from kernelevolve.search.mcts import MctsPolicy, _Scale
from kernelevolve.search.protocols import Policy
from tests.unit.search.landscape import OPTIMUM, add_node, fitness, search, value

RNG = np.random.default_rng(0)


def test_conforms_to_the_policy_protocol():
    assert isinstance(MctsPolicy(), Policy)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_the_optimum_of_the_landscape_within_budget(seed):
    graph, _ = search(MctsPolicy(), budget=200, seed=seed)
    assert value(graph.best()) == OPTIMUM


def _bandit() -> tuple[Graph, dict[int, int]]:
    """A root with three arms of fixed fitness; returns the graph and arm -> its state."""
    graph = Graph()
    root = add_node(graph, 30, None, None)
    arms = {add_node(graph, x, root, i).id: x for i, x in enumerate((32, 26, 17))}
    return graph, arms


def _arm_of(graph: Graph, node_id: int) -> int:
    chain = [node_id, *(a.id for a in graph.ancestors(node_id))]
    return chain[-2]


def test_visit_counts_follow_uct():
    c = 1.0
    graph, arms = _bandit()
    policy = MctsPolicy(MctsConfig(c=c, widen_k=1.0, widen_alpha=0.0))  # each node keeps one child: root stays closed
    low, high = fitness(17), fitness(32)
    q = {arm: (fitness(x) - low) / (high - low) for arm, x in arms.items()}
    for step in range(60):
        n = {arm: graph.stats(arm).visits for arm in arms}
        total = graph.stats(0).visits
        expected = max(arms, key=lambda a: (q[a] + c * math.sqrt(math.log(total) / n[a]), -a))
        picked = policy.select(graph, 1, [], RNG)[0]
        assert _arm_of(graph, picked.id) == expected, f"step {step}: visits {n}"
        add_node(graph, arms[expected], picked, 10 + step)  # same fitness as its arm: a bandit pull
    visits = [graph.stats(arm).visits for arm in arms]
    assert visits[0] > visits[1] > visits[2] > 1, visits


def test_max_backup_makes_a_branch_with_one_great_descendant_win():
    graph = Graph()
    root = add_node(graph, 30, None, None)
    a = add_node(graph, 19, root, 0)
    b = add_node(graph, 27, root, 1)
    for step in range(2, 6):
        add_node(graph, 26, b, step)
    add_node(graph, 32, a, 6)  # a's subtree holds the optimum
    pick = MctsPolicy(MctsConfig(c=0.0)).select(graph, 1, [], RNG)[0]
    assert _arm_of(graph, pick.id) == a.id


def test_virtual_loss_steers_concurrent_selections_apart():
    graph, _ = search(MctsPolicy(), budget=40, seed=3)
    policy = MctsPolicy()
    alone = policy.select(graph, 1, [], RNG)[0]
    crowded = policy.select(graph, 1, [alone.id] * 3, RNG)[0]
    assert crowded.id != alone.id
    batch = policy.select(graph, 4, [], RNG)
    assert len({n.id for n in batch}) >= 3, [n.id for n in batch]


def test_buggy_nodes_get_one_repair_or_none():
    graph = Graph()
    root = add_node(graph, 30, None, None)
    bug = add_node(graph, 28, root, 0)  # buggy (multiple of 7)
    repair_on = MctsPolicy(MctsConfig(c=10.0, widen_alpha=0.0))
    assert repair_on.select(graph, 1, [], RNG)[0].id == bug.id, "a huge c explores the unvisited buggy branch"
    add_node(graph, 14, bug, 1)  # the repair failed too
    assert graph.stats(bug.id).visits == 2 and graph.stats(bug.id).best == 0.0
    off = MctsPolicy(MctsConfig(c=10.0, expand_buggy=False))
    picks = off.select(graph, 3, [], RNG)
    assert picks and all(not p.is_buggy for p in picks)


def test_pending_nodes_are_never_selected_and_a_buggy_lone_seed_is_exhausted():
    graph = Graph()
    root = add_node(graph, 30, None, None)
    add_node(graph, 31, root, 0, evaluate=False)
    assert [n.id for n in MctsPolicy(MctsConfig(widen_alpha=1.0)).select(graph, 3, [], RNG)] == [0, 0, 0]
    lone = Graph()
    add_node(lone, 14, None, None)
    assert MctsPolicy(MctsConfig(expand_buggy=False)).select(lone, 1, [], RNG) == []


def test_inspirations_come_from_other_branches():
    graph = Graph()
    root = add_node(graph, 30, None, None)
    a = add_node(graph, 31, root, 0)
    a2 = add_node(graph, 32, a, 1)
    b = add_node(graph, 27, root, 2)
    got = MctsPolicy().inspirations(graph, a2, 1, RNG)
    assert [n.id for n in got] == [b.id], "the parent's own ancestors are not inspirations when others exist"


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="mcts.c"):
        MctsPolicy(MctsConfig(c=-1.0))
    with pytest.raises(ValueError, match="widen"):
        MctsPolicy(MctsConfig(widen_alpha=2.0))


def test_virtual_loss_discounts_q_so_a_busy_best_arm_yields_to_a_close_second():
    """With c = 0 only Q decides: Q'(A) = Q(A) * N / (N + L) = 1 * 1 / 2 falls below B's 0.93."""
    graph = Graph()
    root = add_node(graph, 30, None, None)
    best = add_node(graph, 32, root, 0)  # F 4.0, normalized 1.0
    second = add_node(graph, 31, root, 1)  # F 3.85, normalized (3.85 - 1.75) / (4.0 - 1.75) = 0.93
    add_node(graph, 17, root, 2)  # F 1.75: the worst correct node sets the scale's floor
    policy = MctsPolicy(MctsConfig(c=0.0, widen_k=1.0, widen_alpha=0.0))
    assert policy.select(graph, 1, [], RNG)[0].id == best.id
    assert policy.select(graph, 1, [best.id], RNG)[0].id == second.id
    stats = graph.stats(best.id)
    loss = policy.virtual_loss(graph, [best.id, best.id])
    scale_free = policy.uct(graph, best, 1, loss, _Scale.of(graph))
    assert scale_free == pytest.approx(1.0 * stats.visits / (stats.visits + 2))
