"""Per-step random streams: every draw of step s comes from (run seed, s), not from a running stream.

A running RNG would make the draws after a resume depend on how many draws happened before the kill;
deriving each step's generator from (seed, step) makes a resumed run draw exactly what an
uninterrupted one would have drawn at that step.
"""

from __future__ import annotations

import numpy as np


def step_rng(seed: int, step: int) -> np.random.Generator:
    """Returns the generator of expansion step `step` of a run seeded with `seed`."""
    if seed < 0 or step < 0:
        raise ValueError(f"seed and step must be >= 0, got seed={seed} step={step}")
    return np.random.default_rng(np.random.SeedSequence([seed, step]))
