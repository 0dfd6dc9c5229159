"""The search's fitness F: how much faster a candidate is than the task's baseline, over the job's shapes.

The judge (conversation.py) computes it from the timings the worker measured and the referee accepted;
the search only ever reads `EvalResult.fitness`. A candidate must be timed on every shape against a
measured baseline to have a fitness at all: one missing or zero ratio makes it 0.0, never a partial mean.
"""

from __future__ import annotations

import math

from kernelevolve.core.types import ShapeTiming


def geomean_speedup(timings: list[ShapeTiming]) -> float:
    """Returns the geometric mean of baseline/candidate over shapes (0.0 when any is missing)."""
    ratios = [t.speedup for t in timings]
    if not ratios or any(r is None or r <= 0 for r in ratios):
        return 0.0
    return math.exp(sum(math.log(r) for r in ratios if r is not None) / len(ratios))
