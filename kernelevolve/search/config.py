"""Configuration of the search (the `search` config group)."""

from __future__ import annotations

import dataclasses
import enum


class PolicyName(enum.StrEnum):
    """Selection policy π."""

    greedy = "greedy"
    mcts = "mcts"
    evolutionary = "evolutionary"


@dataclasses.dataclass(frozen=True, kw_only=True)
class SearchConfig:
    """Settings of the search loop.

    Attributes:
        policy: the selection policy π.
        max_steps: stop after this many evaluated candidates (the seed included).
        max_wall_s: stop after this many seconds of wall-clock time (0 = no limit).
        max_tokens: stop after this many LLM tokens in+out (0 = no limit).
        max_dollars: stop after this much estimated LLM cost, US dollars (0 = no limit).
        stall: stop after this many evaluations without a better best fitness (0 = never).
        target_speedup: stop once the best fitness reaches this (0 = no target).
        concurrency: expansions kept in flight at once.
        exploration: share of greedy selections that pick a random correct node instead of the best
            (0..1), so one lineage cannot monopolize the search.
        top_k: greedy picks parents among the top_k nodes by fitness.
        min_improvement: a new best must beat the old one by this relative margin to reset the stall
            counter (0.01 = 1%), so timing noise does not count as progress.
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
