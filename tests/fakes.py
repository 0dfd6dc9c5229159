"""Deterministic stand-ins for the operator and the judge, so the loop is testable without kernels."""

from __future__ import annotations

import hashlib
import threading

from kernelevolve.core.types import Candidate, EvalResult, EvalStatus
from kernelevolve.operator.expansion import Expansion, ExpansionRequest


class FakeOperator:
    """Proposes `x = <int>` sources: child value = parent value + a delta drawn from the request seed."""

    name = "fake"

    def __init__(self, fail_every: int = 0) -> None:
        self.fail_every = fail_every
        self.calls = 0
        self._lock = threading.Lock()

    def seed(self) -> Candidate:
        return Candidate(source="x = 10\n", parent_id=None, origin="seed", note="seed")

    def expand(self, request: ExpansionRequest) -> Expansion:
        with self._lock:
            self.calls += 1
            calls = self.calls
        if self.fail_every and calls % self.fail_every == 0:
            return Expansion(candidate=None, failure="fake failure")
        value = int(request.parent.candidate.source.splitlines()[0].split("=")[1])
        delta = (request.seed % 7) - 2
        return Expansion(candidate=Candidate(source=f"x = {value + delta}\n# {request.seed}\n",
                                             parent_id=request.parent.id, origin=self.name, note=f"+{delta}"),
                         llm_calls=[{"tokens_in": 10, "tokens_out": 5, "cost_usd": 0.001}])


class FakeJudge:
    """Fitness = x / 10 for x > 0; x <= 0 is INCORRECT; sources whose hash ends in 'f' crash."""

    def __init__(self) -> None:
        self.evaluated: list[str] = []

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        self.evaluated.append(candidate_id)
        value = int(source.splitlines()[0].split("=")[1])
        if hashlib.sha256(source.encode()).hexdigest().endswith("f"):
            return EvalResult(status=EvalStatus.CRASHED, reason="fake crash", platform="fake")
        if value <= 0:
            return EvalResult(status=EvalStatus.INCORRECT, reason="non-positive", platform="fake")
        return EvalResult(status=EvalStatus.OK, fitness=value / 10, platform="fake")
