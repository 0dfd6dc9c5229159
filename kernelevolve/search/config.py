"""Configuration of the search (the `search` config group): the loop's budgets and one section per policy."""

from __future__ import annotations

import dataclasses
import enum


class PolicyName(enum.StrEnum):
    """Selection policy π. Members are named like their values: OmegaConf matches enums by name."""

    greedy = "greedy"
    mcts = "mcts"
    evolutionary = "evolutionary"


class ParentSelection(enum.StrEnum):
    """How an island picks a parent from its population."""

    tournament = "tournament"
    proportional = "proportional"


@dataclasses.dataclass(frozen=True, kw_only=True)
class MctsConfig:
    """UCT tree search over the graph (search/mcts.py).

    Attributes:
        c: exploration constant of UCT: score = Q/F_best + c * sqrt(ln N_parent / N_child), with Q the
            best fitness in the child's subtree (so Q/F_best is in [0, 1]).
        widen_k: progressive widening: a node may have at most max(1, floor(widen_k * N**widen_alpha))
            children (N = its visits, in-flight expansions included) before selection descends past it.
        widen_alpha: exponent of progressive widening (0..1; 0 = a fixed branching of widen_k).
        expand_buggy: whether buggy nodes (F = 0) may be chosen for expansion (a repair attempt); they
            are always counted as visits with reward 0.
    """

    c: float = 0.3
    widen_k: float = 1.0
    widen_alpha: float = 0.3
    expand_buggy: bool = True


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvolutionaryConfig:
    """Islands with migration (search/evolutionary.py).

    Attributes:
        islands: number of islands; expansion step s works on island s % islands.
        population: the best `population` correct members of an island are its parent pool.
        selection: tournament or fitness-proportional parent choice.
        tournament_size: contestants drawn (with replacement) per tournament.
        migration_interval: every this many evaluations (arrival order), each island's best member
            migrates to the next island (ring); 0 disables migration.
        migrants: how many of an island's best members migrate each time.
    """

    islands: int = 4
    population: int = 16
    selection: ParentSelection = ParentSelection.tournament
    tournament_size: int = 3
    migration_interval: int = 8
    migrants: int = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class SearchConfig:
    """Settings of the search loop.

    Attributes:
        policy: the selection policy π.
        max_steps: stop after this many evaluated candidates (the seeds included).
        max_wall_s: stop after this many seconds of wall-clock time (0 = no limit); a resumed run
            continues the clock of the killed one. Verdicts already on a judge finish; candidates still
            queued or waiting for their compile stay pending for a resume.
        max_tokens: stop after this many LLM tokens in+out (0 = no limit).
        max_dollars: stop after this much estimated LLM cost, US dollars (0 = no limit).
        stall: stop after this many evaluations without a better best fitness (0 = never).
        target_speedup: stop once the best fitness reaches this (0 = no target).
        concurrency: expansions kept in flight at once.
        exploration: share of greedy selections that pick a random correct node instead of a top one
            (0..1), so one lineage cannot monopolize the search.
        top_k: greedy picks parents among the top_k nodes by fitness.
        min_improvement: a new best must beat the old one by this relative margin to reset the stall
            counter (0.01 = 1%), so timing noise does not count as progress.
        inspirations: other nodes (top and diverse) handed to the operator beside the parent.
        seed_from: warm start: a run id (a directory under store.root) or a task name; the new run
            starts from the best `seed_top_k` correct kernels of that run (or of every stored run of
            that task) as extra roots, re-evaluated here. None: start from the task's seed only.
        seed_top_k: how many earlier kernels a warm start takes.
        mcts: settings of search=mcts.
        evolutionary: settings of search=evolutionary.
    """

    policy: PolicyName = PolicyName.greedy
    max_steps: int = 20
    max_wall_s: float = 0.0
    max_tokens: int = 0
    max_dollars: float = 0.0
    stall: int = 10
    target_speedup: float = 0.0
    concurrency: int = 2
    exploration: float = 0.2
    top_k: int = 3
    min_improvement: float = 0.01
    inspirations: int = 2
    seed_from: str | None = None
    seed_top_k: int = 3
    mcts: MctsConfig = dataclasses.field(default_factory=MctsConfig)
    evolutionary: EvolutionaryConfig = dataclasses.field(default_factory=EvolutionaryConfig)
