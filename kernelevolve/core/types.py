"""The domain dataclasses every package speaks: candidates, verdicts and graph nodes.

They are plain data (JSON round-trippable through `to_dict`/`from_dict`) so they cross process
and Ray boundaries and land in the store unchanged.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

# How a dropped duplicate expansion's failure starts (stored with the step; it is not counted as a failed step).
DUPLICATE_PREFIX = "duplicate:"


class ShapeSet(enum.StrEnum):
    """Which family of a task's shapes to run: production shapes, or small ones for the interpreter (here, not in
    kernelevolve.tasks, so that config code reads it without importing torch)."""

    PRODUCTION = "production"
    SMALL = "small"


class EvalStatus(enum.StrEnum):
    """The verdict of one evaluation; anything but OK means fitness 0 and a buggy node."""

    OK = "ok"
    COMPILE_ERROR = "compile_error"
    RUNTIME_ERROR = "runtime_error"
    INCORRECT = "incorrect"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    INTEGRITY_VIOLATION = "integrity_violation"


class NodeState(enum.StrEnum):
    """Life cycle of a graph node: proposed by an operator, then evaluated (or failed to expand)."""

    PENDING = "pending"
    EVALUATED = "evaluated"
    EXPANSION_FAILED = "expansion_failed"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Candidate:
    """A kernel proposed by an operator.

    Attributes:
        source: the whole candidate file (defines ModelNew with @triton.jit kernels).
        parent_id: node id of the parent, None for a seed.
        origin: which operator made it ("seed", "offline", "llm:<model>", ...).
        note: one line saying what changed relative to the parent.
    """

    source: str
    parent_id: int | None
    origin: str
    note: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Mismatch:
    """Where a candidate's output disagreed with the reference (first failing check only)."""

    shape: str
    seed: int
    output_index: int
    max_abs_err: float
    max_rel_err: float
    frac_mismatched: float
    first_bad_index: list[int]
    detail: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShapeTiming:
    """Timing of one shape. Times are milliseconds (medians); iqr_ms is the interquartile range.

    On the cpu platform these are Triton-interpreter times: comparable between candidates of one
    run, never a speedup claim.
    """

    shape: str
    candidate_ms: float
    candidate_iqr_ms: float
    baseline_ms: float | None = None
    baseline_iqr_ms: float | None = None
    baseline_name: str | None = None

    @property
    def speedup(self) -> float | None:
        """Returns baseline/candidate time, or None when there is no baseline."""
        if self.baseline_ms is None or self.candidate_ms <= 0:
            return None
        return self.baseline_ms / self.candidate_ms


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvalResult:
    """The verdict on one candidate, as data (never an exception).

    Attributes:
        status: the verdict; OK only when every correctness and integrity check passed.
        reason: one line a human can act on ("shape tail seed 2: max abs err 3e-2 > atol 1e-4").
        error: trimmed compile log / traceback / stderr, or None.
        fitness: geometric-mean speedup over SHAPES vs the baseline (0.0 when not OK). On the cpu
            platform it is the geometric mean of reference_time/candidate_time under the interpreter,
            useful only to rank candidates of one run.
        timings: per-shape timings (OK candidates only).
        mismatch: statistics of the first mismatch (INCORRECT only).
        metrics: named numbers (triton_launches, triton_time_fraction, eval_seconds, ...).
        platform: where it ran ("cuda", "cpu", ...); interpreter timings carry platform "cpu".
    """

    status: EvalStatus
    reason: str = ""
    error: str | None = None
    fitness: float = 0.0
    timings: list[ShapeTiming] = dataclasses.field(default_factory=list)
    mismatch: Mismatch | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    platform: str = ""

    @property
    def ok(self) -> bool:
        """Returns True when the candidate is correct and passed every integrity check."""
        return self.status is EvalStatus.OK

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalResult:
        """Returns the EvalResult that `to_dict` produced."""
        mismatch = data.get("mismatch")
        return cls(
            status=EvalStatus(data["status"]),
            reason=data.get("reason", ""),
            error=data.get("error"),
            fitness=float(data.get("fitness", 0.0)),
            timings=[ShapeTiming(**t) for t in data.get("timings", [])],
            mismatch=Mismatch(**mismatch) if mismatch else None,
            metrics={k: float(v) for k, v in data.get("metrics", {}).items()},
            platform=data.get("platform", ""),
        )


@dataclasses.dataclass(kw_only=True)
class Node:
    """One vertex of the search graph: a candidate and, once evaluated, its verdict."""

    id: int
    parent_id: int | None
    candidate: Candidate
    state: NodeState = NodeState.PENDING
    result: EvalResult | None = None
    created_at: float = 0.0

    @property
    def score(self) -> float:
        """Returns the fitness F (0 for buggy or unevaluated nodes)."""
        return self.result.fitness if self.result is not None and self.result.ok else 0.0

    @property
    def is_buggy(self) -> bool:
        """Returns True when evaluated and not OK, or when expansion failed."""
        if self.state is NodeState.EXPANSION_FAILED:
            return True
        return self.result is not None and not self.result.ok
