"""Adaptive timing: the rules that end a candidate's timed reps early and that trust a cached baseline.

Both are sequential tests on the interleaved samples a timer has so far, written so that a false stop
is rare and errs the safe way:

- clearly slower: after at least MIN_REPS reps, and every CHECK_EVERY reps after that, the lower bound of
  a distribution-free confidence interval of the candidate's median (order statistics, Z standard errors,
  ~99.7% two-sided at Z=3) is compared with the run's best time on that shape; when even that lower bound
  is more than `margin` above the best, the candidate cannot become the best there and its timing stops.
  A candidate whose true median is at or below best * (1 + margin) is stopped only if Z-sigma luck goes
  against it, and then only loses precision: its median over the reps it had is still its time.
- baseline probe: a baseline timed earlier in the same worker is reused when this job's probe samples
  (every PROBE_EVERY-th rep) have a median within `tolerance` of it; otherwise the baseline is timed
  again, interleaved on every rep, and replaces the cached one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

Z = 3.0
MIN_REPS = 20
CHECK_EVERY = 10
PROBE_EVERY = 8


def median_bounds(samples: Sequence[float], z: float = Z) -> tuple[float, float]:
    """Returns (low, high): order statistics bracketing the median with ~z standard errors (binomial)."""
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        return math.inf, -math.inf
    k = max(0, math.floor((n - z * math.sqrt(n)) / 2))
    return ordered[k], ordered[n - 1 - k]


def clearly_slower(samples: Sequence[float], best_ms: float | None, margin: float, min_reps: int = MIN_REPS) -> bool:
    """Returns True when the candidate's median time is, with high confidence, above best_ms * (1 + margin)."""
    if best_ms is None or best_ms <= 0 or len(samples) < min_reps:
        return False
    low, _ = median_bounds(samples)
    return low > best_ms * (1.0 + margin)


def check_due(reps_done: int, min_reps: int = MIN_REPS, every: int = CHECK_EVERY) -> bool:
    """Returns True after the reps at which the stop rule is evaluated (min_reps, then every `every`)."""
    return reps_done >= min_reps and (reps_done - min_reps) % every == 0


def probe_drift(probe: Sequence[float], cached_median: float) -> float:
    """Returns |median(probe) / cached - 1|, the relative drift of the baseline since it was cached."""
    if not probe or cached_median <= 0:
        return math.inf
    return abs(statistics.median(probe) / cached_median - 1.0)
