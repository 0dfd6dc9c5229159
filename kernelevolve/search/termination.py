"""Termination τ: budgets, stall and target, whichever comes first, reported as a reason."""

from __future__ import annotations

import dataclasses
import enum

from kernelevolve.search.config import SearchConfig


class StopReason(enum.StrEnum):
    """Why a search stopped."""

    MAX_STEPS = "max_steps"
    WALL_CLOCK = "wall_clock"
    TOKENS = "tokens"
    DOLLARS = "dollars"
    STALL = "stall"
    TARGET = "target_speedup"
    EXHAUSTED = "exhausted"  # nothing left to expand (no correct node, operator gave up)


@dataclasses.dataclass(kw_only=True)
class Progress:
    """Counters the budgets are checked against; persisted with the run so a resume continues them."""

    evaluated: int = 0
    failures: int = 0
    expansion_failures: int = 0
    elapsed_s: float = 0.0
    tokens: int = 0
    dollars: float = 0.0
    best_fitness: float = 0.0
    since_improvement: int = 0

    def observe(self, fitness: float, ok: bool, min_improvement: float) -> bool:
        """Counts one evaluation; returns True when it is a new best by the required margin."""
        self.evaluated += 1
        self.failures += 0 if ok else 1
        if ok and fitness > self.best_fitness * (1.0 + min_improvement):
            self.best_fitness = fitness
            self.since_improvement = 0
            return True
        if ok and fitness > self.best_fitness:
            self.best_fitness = fitness  # better, but within noise: keep it, not a reset of the stall count
        self.since_improvement += 1
        return False


def check_termination(config: SearchConfig, progress: Progress) -> StopReason | None:
    """Returns the first budget or condition that is exhausted, or None to go on."""
    checks = (
        (config.max_steps > 0 and progress.evaluated >= config.max_steps, StopReason.MAX_STEPS),
        (config.max_wall_s > 0 and progress.elapsed_s >= config.max_wall_s, StopReason.WALL_CLOCK),
        (config.max_tokens > 0 and progress.tokens >= config.max_tokens, StopReason.TOKENS),
        (config.max_dollars > 0 and progress.dollars >= config.max_dollars, StopReason.DOLLARS),
        (config.stall > 0 and progress.since_improvement >= config.stall, StopReason.STALL),
        (config.target_speedup > 0 and progress.best_fitness >= config.target_speedup, StopReason.TARGET),
    )
    return next((reason for hit, reason in checks if hit), None)
