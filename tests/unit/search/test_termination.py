"""Termination τ: each budget and condition stops the search and is reported as the reason."""

from __future__ import annotations

import pytest

from kernelevolve.search.config import SearchConfig
from kernelevolve.search.termination import Progress, StopReason, check_termination

UNLIMITED = dict(max_steps=0, stall=0)


@pytest.mark.parametrize("limits,progress,reason", [
    (dict(max_steps=5), Progress(evaluated=5), StopReason.MAX_STEPS),
    (dict(max_wall_s=10.0), Progress(elapsed_s=10.0), StopReason.WALL_CLOCK),
    (dict(max_tokens=100), Progress(tokens=100), StopReason.TOKENS),
    (dict(max_dollars=0.5), Progress(dollars=0.51), StopReason.DOLLARS),
    (dict(stall=3), Progress(since_improvement=3), StopReason.STALL),
    (dict(target_speedup=2.0), Progress(best_fitness=2.0), StopReason.TARGET),
])
def test_each_budget_stops_with_its_reason(limits, progress, reason):
    assert check_termination(SearchConfig(**{**UNLIMITED, **limits}), progress) is reason


@pytest.mark.parametrize("limits,progress", [
    (dict(max_steps=5), Progress(evaluated=4)),
    (dict(max_wall_s=10.0), Progress(elapsed_s=9.99)),
    (dict(max_dollars=0.5), Progress(dollars=0.49)),
    (dict(target_speedup=2.0), Progress(best_fitness=1.99)),
    ({}, Progress(evaluated=10**6, tokens=10**9, dollars=1e6, since_improvement=10**6, best_fitness=99.0)),
])
def test_below_every_limit_the_search_goes_on(limits, progress):
    assert check_termination(SearchConfig(**{**UNLIMITED, **limits}), progress) is None


def test_whichever_comes_first_in_the_documented_order_is_reported():
    config = SearchConfig(max_steps=5, max_tokens=10, stall=2)
    assert check_termination(config, Progress(evaluated=5, tokens=99, since_improvement=9)) is StopReason.MAX_STEPS
    assert check_termination(config, Progress(evaluated=1, tokens=99, since_improvement=9)) is StopReason.TOKENS


def test_progress_counts_improvements_beyond_the_noise_margin_only():
    p = Progress()
    assert p.observe(1.0, True, 0.05)
    assert not p.observe(1.04, True, 0.05) and p.best_fitness == 1.04 and p.since_improvement == 1
    assert not p.observe(9.0, False, 0.05) and p.failures == 1 and p.best_fitness == 1.04
    assert p.observe(1.2, True, 0.05) and p.since_improvement == 0 and p.evaluated == 4
