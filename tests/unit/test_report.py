"""The end-of-run report: report.md holds every node; the printed table says how many of them it shows."""

from __future__ import annotations

from kernelevolve import launch
from kernelevolve.controller import Outcome
from kernelevolve.core.types import Candidate, EvalResult, EvalStatus, Node
from kernelevolve.report.markdown import TOP_N, build_report
from kernelevolve.search.graph import Graph
from kernelevolve.search.termination import Progress, StopReason


def _outcome(n: int) -> Outcome:
    graph = Graph()
    for i in range(n):
        graph.add(Node(id=i, parent_id=None if i == 0 else 0,
                       candidate=Candidate(source=f"x = {i}\n", parent_id=None, origin="t", note=f"change {i}")))
        graph.record(i, EvalResult(status=EvalStatus.OK, fitness=1.0 + i / 100, platform="cuda"))
    return Outcome(stop_reason=StopReason.MAX_STEPS, best=graph.best(), progress=Progress(evaluated=n), graph=graph)


def test_report_md_lists_every_node_and_the_table_says_what_it_leaves_out(tmp_path, capsys):
    report = build_report(_outcome(TOP_N + 3), run_id="r", run_dir=tmp_path, platform="cuda")
    markdown = (tmp_path / "report.md").read_text()
    assert all(f"| change {i} |" in markdown for i in range(TOP_N + 3))
    launch._print_summary(report)
    out = capsys.readouterr().out
    assert f"{TOP_N} of {TOP_N + 3} nodes shown, best first; all of them are in {tmp_path / 'report.md'}" in out
    assert "change 12" in out and "change 2 " not in out, "the best ten are printed: nodes 12 down to 3"


def test_a_short_run_prints_every_node_without_a_footer(tmp_path, capsys):
    launch._print_summary(build_report(_outcome(3), run_id="r", run_dir=tmp_path, platform="cuda"))
    out = capsys.readouterr().out
    assert "nodes shown" not in out and all(f"change {i}" in out for i in range(3))
