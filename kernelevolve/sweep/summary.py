"""The few numbers a sweep compares per run, read from the run's store.

A run on a remote Ray cluster writes its store there, so the run also prints its summary as one log
line (`SUMMARY_MARK` + JSON) that the sweep submitter finds in the job's logs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from kernelevolve.report.data import RunData, load_run
from kernelevolve.report.sections import best_so_far, fitness_label

SUMMARY_MARK = "kernelevolve-summary: "


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSummary:
    """One run's outcome.

    Attributes:
        best_fitness: the best correct candidate's fitness (0 when none was correct).
        fitness_label: "speedup", or "interp. score" on the cpu platform (ranking only).
        candidates: verdicts recorded; failures: those that were not ok.
        dollars: LLM cost; tokens: LLM tokens in + out.
        wall_s: seconds from the run's start to its last recorded event.
        curve: the best fitness after each verdict, in order.
    """

    run_id: str
    task: str
    platform: str
    state: str
    stop_reason: str | None
    best_fitness: float
    best_node: int | None
    fitness_label: str
    candidates: int
    failures: int
    dollars: float
    tokens: int
    wall_s: float
    curve: list[float]

    def to_json(self) -> str:
        """Returns the summary as one JSON line."""
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        """Returns the summary that `to_json` wrote (unknown keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def summarize_data(data: RunData) -> RunSummary:
    """Returns the summary of a run snapshot."""
    best = data.best
    return RunSummary(run_id=data.run_id, task=data.task, platform=data.platform, state=data.state,
                      stop_reason=data.stop_reason, best_fitness=best.score if best else 0.0,
                      best_node=best.id if best else None, fitness_label=fitness_label(data),
                      candidates=len(data.verdicts), failures=sum(v.status != "ok" for v in data.verdicts),
                      dollars=sum(c.cost_usd for c in data.llm_calls),
                      tokens=sum(c.tokens_in + c.tokens_out for c in data.llm_calls), wall_s=data.wall_s,
                      curve=best_so_far([v.fitness for v in data.verdicts]))


def summarize(run_dir: Path) -> RunSummary:
    """Returns the summary of the run stored in `run_dir`."""
    return summarize_data(load_run(Path(run_dir)))


def find_summary(log_text: str) -> RunSummary | None:
    """Returns the last summary line in a run's log output, or None when the run printed none."""
    for line in reversed(log_text.splitlines()):
        if line.startswith(SUMMARY_MARK):
            return RunSummary.from_dict(json.loads(line.removeprefix(SUMMARY_MARK)))
    return None
