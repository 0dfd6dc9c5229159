"""Fitness F (eval/fitness.py): the geometric-mean speedup over the job's shapes."""

from __future__ import annotations

import pytest

from kernelevolve.core.types import ShapeTiming
from kernelevolve.eval.fitness import geomean_speedup


@pytest.mark.parametrize(("speedups", "expected"), [
    ((4.0, 1.0), 2.0),  # sqrt(4 * 1)
    ((0.25, 4.0), 1.0),
    ((9.0, 0.0), 0.0),  # a zero ratio (zero baseline time) is no fitness, never log(0)
    ((9.0, None), 0.0),  # a shape without a baseline
])
def test_geomean_speedup_is_zero_unless_every_ratio_is_positive(speedups, expected):
    timings = [ShapeTiming(shape=s, candidate_ms=1.0, candidate_iqr_ms=0.0, baseline_ms=x, baseline_iqr_ms=0.0)
               for s, x in zip(("a", "b"), speedups, strict=True)]
    assert geomean_speedup(timings) == pytest.approx(expected, rel=1e-12)


def test_no_timings_is_no_fitness():
    assert geomean_speedup([]) == 0.0
