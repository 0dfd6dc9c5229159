"""Islands: membership by step, parents from the step's island, ring migration of the best."""

from __future__ import annotations

import numpy as np
import pytest

from kernelevolve.search.config import EvolutionaryConfig, ParentSelection
from kernelevolve.search.evolutionary import EvolutionaryPolicy
from kernelevolve.search.graph import Graph
from kernelevolve.search.protocols import Policy
from tests.unit.search.landscape import OPTIMUM, add_node, search, value


def test_conforms_to_the_policy_protocol():
    assert isinstance(EvolutionaryPolicy(), Policy)


@pytest.mark.parametrize("selection", list(ParentSelection))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_the_optimum_of_the_landscape_within_budget(seed, selection):
    policy = EvolutionaryPolicy(EvolutionaryConfig(selection=selection))
    graph, _ = search(policy, budget=300, seed=seed)
    assert value(graph.best()) == OPTIMUM


def _two_islands(interval: int):
    policy = EvolutionaryPolicy(EvolutionaryConfig(islands=2, migration_interval=interval, population=8))
    graph = Graph()
    root = add_node(graph, 3, None, None)                      # shared by both islands
    star = add_node(graph, 31, root, 0)                        # island 0's best
    add_node(graph, 20, root, 1)                               # island 1
    add_node(graph, 24, graph.get(2), 3)                       # island 1
    return graph, policy, star


def test_islands_are_assigned_by_step_and_roots_are_shared():
    graph, policy, star = _two_islands(interval=0)
    assert [policy.island_of(graph, i) for i in range(4)] == [None, 0, 1, 1]
    assert [n.id for n in policy.members(graph, 0)] == [star.id, 0]
    assert [n.id for n in policy.members(graph, 1)] == [3, 2, 0]


def test_islands_migrate_their_best_to_the_next_island():
    graph, policy, star = _two_islands(interval=4)  # the 4th verdict triggers a migration
    assert star.id in [n.id for n in policy.members(graph, 1)]
    assert 3 in [n.id for n in policy.members(graph, 0)], "island 1's best (node 3) moved to island 0"
    no_migration = EvolutionaryPolicy(EvolutionaryConfig(islands=2, migration_interval=0, population=8))
    assert star.id not in [n.id for n in no_migration.members(graph, 1)]


def test_parents_come_from_the_island_whose_turn_it_is():
    graph, policy, star = _two_islands(interval=0)
    graph.next_step = 5  # island 1's turn
    picks = {policy.select(graph, 1, [], np.random.default_rng(i))[0].id for i in range(50)}
    assert star.id not in picks and picks <= {0, 2, 3}
    graph.next_step = 6  # island 0's turn
    picks = {policy.select(graph, 1, [], np.random.default_rng(i))[0].id for i in range(50)}
    assert picks <= {0, star.id} and star.id in picks


def test_tournament_prefers_fitter_members():
    graph, _ = search(EvolutionaryPolicy(), budget=80, seed=0)
    policy = EvolutionaryPolicy(EvolutionaryConfig(tournament_size=4))
    pool = policy.members(graph, graph.next_step % 4)[:16]
    picks = [policy.select(graph, 1, [], np.random.default_rng(i))[0] for i in range(200)]
    mean_pick = np.mean([p.score for p in picks])
    assert mean_pick > np.mean([n.score for n in pool])


def test_inspirations_hold_the_global_best_and_other_islands():
    graph, policy, star = _two_islands(interval=0)
    got = policy.inspirations(graph, graph.get(3), 2, np.random.default_rng(0))
    assert [n.id for n in got] == [star.id, 0]
    assert all(n.id != 3 for n in policy.inspirations(graph, graph.get(3), 5, np.random.default_rng(1)))


def test_memo_is_rebuilt_for_another_graph():
    policy = EvolutionaryPolicy(EvolutionaryConfig(islands=2, migration_interval=0))
    first, _, _ = _two_islands(interval=0)
    assert len(policy.members(first, 1)) == 3
    other = Graph()
    add_node(other, 3, None, None)
    assert [n.id for n in policy.members(other, 1)] == [0]


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="positive"):
        EvolutionaryPolicy(EvolutionaryConfig(islands=0))
