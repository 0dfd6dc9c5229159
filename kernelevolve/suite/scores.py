"""Suite-level scores over per-problem results: correct rate, KernelBench's fast_p, geometric-mean speedups.

fast_p (KernelBench) is the share of all problems whose kernel is correct and faster than the baseline by
more than p: fast_0 is the correct rate among timed problems, fast_1 the share that beat the baseline. It is
reported against eager PyTorch and against torch.compile. Speedups exist only on a GPU: on the cpu platform
(the Triton interpreter) they are None and every fast_p is None, never 0.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

import torch

from kernelevolve.tasks.spec import DEFAULT_TOLERANCES, KERNELBENCH_TOLERANCE

BASELINES = ("eager", "compile")
_KB, _FP32 = KERNELBENCH_TOLERANCE, DEFAULT_TOLERANCES[torch.float32]
TOLERANCE_NOTE = (f"\nTolerance: \"KernelBench\" = a plain KernelBench file (no tolerance, inputs or shapes of its "
                  f"own), judged with KernelBench's check, atol={_KB[0]:g} rtol={_KB[1]:g} on every float output, so "
                  f"correct rate and fast_p compare with KernelBench's; \"task\" = the file's own tolerance, else the "
                  f"project's per-dtype default (fp32 atol={_FP32[0]:g} rtol={_FP32[1]:g}).")
FAST_P = (0.0, 1.0, 2.0)
REASON_CHARS = 700  # a reason cut in the Markdown table (summary.json keeps it whole): the chain's three steps fit


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProblemResult:
    """What one problem's search gave.

    Attributes:
        problem: the problem's id (its file's path under the suite root, without .py).
        path: the task file.
        run_id: the search's run (under <out>/runs); None when the launch made none.
        seed_origin: the root's origin: "seed" (hand-written), "seed:inductor", "llm:<model>", or None.
        correct: whether the search found a correct kernel.
        reason: why not, when it did not (the launch's error line, or the root's verdict).
        speedup: baseline name -> best kernel's speedup against it (None on the interpreter or when not timed).
        evaluated: candidates judged; wall_s: seconds the search took (launch included).
        tolerance: which default tolerance judged it (loader.tolerance_policy: KernelBench's for a plain
            KernelBench file, else the task's own); "" when the file could not be loaded (or in older results).
        notes: for a correct problem, why a speedup is missing (the other baseline's timing failed), else "".
    """

    problem: str
    path: str
    run_id: str | None
    seed_origin: str | None
    correct: bool
    reason: str
    speedup: dict[str, float | None]
    evaluated: int
    wall_s: float
    tolerance: str = ""
    notes: str = ""

    def to_json(self) -> str:
        """Returns the result as JSON text."""
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> ProblemResult:
        """Returns a result written by to_json."""
        return cls(**json.loads(text))


def fast_p(results: Sequence[ProblemResult], baseline: str, p: float) -> float | None:
    """Returns the share of problems correct and faster than `baseline` by more than p (None: nothing was timed)."""
    if not results or not any(r.speedup.get(baseline) is not None for r in results):
        return None
    return sum(r.correct and (r.speedup.get(baseline) or 0.0) > p for r in results) / len(results)


def geomean_speedup(results: Sequence[ProblemResult], baseline: str) -> float | None:
    """Returns the geometric mean of the correct problems' speedups against `baseline` (None when none timed)."""
    values = [r.speedup[baseline] for r in results if r.correct and r.speedup.get(baseline)]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def suite_scores(results: Sequence[ProblemResult]) -> dict[str, Any]:
    """Returns the suite's numbers: problems, correct rate, fast_p and geomean per baseline, seed origins."""
    origins: dict[str, int] = {}
    for r in results:
        origins[r.seed_origin or "none"] = origins.get(r.seed_origin or "none", 0) + 1
    return {"problems": len(results), "correct": sum(r.correct for r in results),
            "correct_rate": sum(r.correct for r in results) / len(results) if results else None,
            "fast_p": {b: {f"fast_{p:g}": fast_p(results, b, p) for p in FAST_P} for b in BASELINES},
            "geomean_speedup": {b: geomean_speedup(results, b) for b in BASELINES}, "seed_origins": origins}


def _shown(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def suite_markdown(results: Sequence[ProblemResult], scores: dict[str, Any], header: str) -> str:
    """Returns the suite summary as Markdown: the scores, then one row per problem."""
    lines = [f"# Suite summary\n\n{header}\n",
             f"Correct: {scores['correct']} of {scores['problems']} "
             f"({_shown(scores['correct_rate'], '{:.0%}')}). Seed origins: "
             + ", ".join(f"{k} {v}" for k, v in sorted(scores["seed_origins"].items())) + ".\n",
             "| baseline | fast_0 | fast_1 | fast_2 | geomean speedup (correct problems) |", "|---|---|---|---|---|"]
    for b in BASELINES:
        f = scores["fast_p"][b]
        lines.append(f"| {'torch.compile' if b == 'compile' else b} | {_shown(f['fast_0'], '{:.0%}')} | "
                     f"{_shown(f['fast_1'], '{:.0%}')} | {_shown(f['fast_2'], '{:.0%}')} | "
                     f"{_shown(scores['geomean_speedup'][b])} |")
    lines += [TOLERANCE_NOTE, "", "| problem | seed origin | tolerance | verdict | vs eager | vs torch.compile | evaluated "
              "| reason |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        reason = (r.reason or r.notes).replace("|", "\\|").replace("\n", " / ")[:REASON_CHARS]
        tolerance = "KernelBench" if r.tolerance.startswith("KernelBench") else ("task" if r.tolerance else "-")
        lines.append(f"| {r.problem} | {r.seed_origin or '-'} | {tolerance} | "
                     f"{'correct' if r.correct else 'no correct kernel'} | "
                     f"{_shown(r.speedup.get('eager'))} | {_shown(r.speedup.get('compile'))} | {r.evaluated} | "
                     f"{reason} |")
    return "\n".join(lines) + "\n"
