"""The end-of-run report: a summary table, status counts, and where the best kernel is."""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path

from kernelevolve.controller import Outcome
from kernelevolve.core.types import Node

TOP_N = 10  # rows of the summary table printed at the end of a run; report.md holds every node


@dataclasses.dataclass(frozen=True, kw_only=True)
class Report:
    """What a finished run hands back: rows for the table, and the best kernel's path."""

    run_id: str
    platform: str
    stop_reason: str
    evaluated: int
    failures: int
    status_counts: dict[str, int]
    rows: list[dict[str, str]]  # every node, best first
    best_path: Path | None
    best_fitness: float
    run_dir: Path
    shown: int = TOP_N  # how many of `rows` the end-of-run table prints

    @property
    def fitness_label(self) -> str:
        """Returns what the fitness column means on this platform."""
        if self.platform == "cpu":
            return "interp. score (ref/cand, ranking only)"
        return "speedup (geomean vs baseline)"


def _row(node: Node) -> dict[str, str]:
    r = node.result
    return {
        "node": str(node.id),
        "parent": "-" if node.parent_id is None else str(node.parent_id),
        "status": str(r.status) if r else str(node.state),
        "fitness": f"{node.score:.3f}" if r and r.ok else "-",
        "change": node.candidate.note[:60],
        "reason": (r.reason if r and not r.ok else "")[:70],
    }


def build_report(outcome: Outcome, *, run_id: str, run_dir: Path, platform: str) -> Report:
    """Returns the report and writes best_kernel.py and report.md into the run directory."""
    nodes = list(outcome.graph.nodes())
    ranked = sorted(nodes, key=lambda n: (-n.score, n.id))
    counts = collections.Counter(str(n.result.status) if n.result else str(n.state) for n in nodes)
    best_path = None
    if outcome.best is not None:
        best_path = run_dir / "best_kernel.py"
        best_path.write_text(outcome.best.candidate.source)
    report = Report(run_id=run_id, platform=platform, stop_reason=str(outcome.stop_reason),
                    evaluated=outcome.progress.evaluated, failures=outcome.progress.failures,
                    status_counts=dict(counts), rows=[_row(n) for n in ranked], best_path=best_path,
                    best_fitness=outcome.best.score if outcome.best else 0.0, run_dir=run_dir)
    (run_dir / "report.md").write_text(render_markdown(report))
    return report


def render_markdown(report: Report) -> str:
    """Returns the report as markdown."""
    lines = [f"# Run {report.run_id}", "", f"- platform: {report.platform}", f"- stopped: {report.stop_reason}",
             f"- evaluated: {report.evaluated} ({report.failures} failed)",
             f"- statuses: {', '.join(f'{k}={v}' for k, v in sorted(report.status_counts.items()))}",
             f"- best kernel: {report.best_path or 'none (no correct candidate)'}", ""]
    if report.platform == "cpu":
        lines += ["Timings are Triton-interpreter timings: they rank candidates of this run and are not speedups.", ""]
    header = ["node", "parent", "status", report.fitness_label, "change", "reason"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report.rows:
        lines.append("| " + " | ".join(row.values()) + " |")
    return "\n".join(lines) + "\n"
