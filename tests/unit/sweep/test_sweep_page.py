"""kernelevolve/sweep: the numbers a sweep compares, the page, and the local multirun's callback."""

from __future__ import annotations

import json
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus

from kernelevolve.launch import Launched
from kernelevolve.sweep.callback import point_of
from kernelevolve.sweep.page import SweepPoint, config_differences, write_sweep
from kernelevolve.sweep.summary import SUMMARY_MARK, find_summary, summarize
from tests.unit.report.run_store import make_run


def _point(name: str, overrides: list[str], summary=None, status="SUCCEEDED", report=None, message="") -> SweepPoint:
    return SweepPoint(name=name, overrides=overrides, status=status, summary=summary, report=report, message=message)


def test_a_summary_holds_the_runs_numbers_and_survives_a_log_line(tmp_path):
    summary = summarize(make_run(tmp_path))
    assert (summary.best_fitness, summary.best_node, summary.candidates, summary.failures) == (3.0, 3, 4, 1)
    assert (summary.dollars, summary.tokens, summary.curve) == (1.0, 600, [1.0, 2.0, 2.0, 3.0])
    logs = f"noise\n{SUMMARY_MARK}{summary.to_json()}\nINFO later line\n"
    assert find_summary(logs) == summary
    assert find_summary("no summary here\n") is None


def test_only_keys_whose_values_differ_are_config_differences():
    points = [_point("s-0", ["+experiment=conv1d", "search=greedy", "seed=0"]),
              _point("s-1", ["+experiment=conv1d", "search=mcts", "seed=0"]),
              _point("s-2", ["+experiment=conv1d", "search=mcts", "seed=0", "search.max_steps=4"])]
    assert config_differences(points) == ["search", "search.max_steps"]


def test_the_sweep_page_lists_every_point_with_its_numbers_and_report_link(tmp_path):
    run = make_run(tmp_path / "runs", "s-0")
    (run / "report.html").write_text("<html></html>")
    points = [_point("s-0", ["search=greedy"], summarize(run), report=str(run / "report.html")),
              _point("s-1", ["search=mcts"], status="FAILED", message="error: this run asks for 4 CPU, 0 GPU"),
              _point("s-2", ["search=evolutionary"], summarize(run), report="/cluster/runs/s-2/report.html")]
    index = write_sweep(tmp_path / "sweeps" / "s", "s", points)
    page = index.read_text()
    assert "<td>s-0</td><td>SUCCEEDED</td><td>greedy</td><td>3</td><td>3</td><td>4</td><td>1</td><td>$1.0000</td>" in page
    assert "href='../../runs/s-0/report.html'" in page
    assert "FAILED<div class='note'>error: this run asks for 4 CPU, 0 GPU</div>" in page
    assert "on the cluster: <code>/cluster/runs/s-2/report.html</code>" in page
    assert 'data-plot="sweep-best"' in page and 'data-plot="sweep-curves"' in page
    data = json.loads((index.parent / "summary.json").read_text())
    assert [p["status"] for p in data["points"]] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert data["points"][0]["summary"]["best_fitness"] == 3.0
    markdown = (index.parent / "summary.md").read_text()
    assert "| s-1 | FAILED: error: this run asks for 4 CPU, 0 GPU | mcts | - |" in markdown


def test_a_multirun_job_becomes_a_point_whether_it_ran_failed_or_raised(tmp_path):
    run = make_run(tmp_path, "ms-0")
    (run / "report.html").write_text("x")
    done = JobReturn(overrides=["search=greedy"], status=JobStatus.COMPLETED,
                     _return_value=Launched(code=0, run_id="ms-0", run_dir=run))
    point = point_of(done, "ms-0")
    assert (point.status, point.summary.best_fitness, point.report) == ("SUCCEEDED", 3.0, str((run / "report.html").resolve()))
    refused = JobReturn(overrides=["search=mcts"], status=JobStatus.COMPLETED,
                        _return_value=Launched(code=2, message="unknown config key(s) ['x']"))
    assert (point_of(refused, "ms-1").status, point_of(refused, "ms-1").message) == ("FAILED", "unknown config key(s) ['x']")
    crashed = JobReturn(overrides=["search=mcts"], status=JobStatus.FAILED, _return_value=ValueError("bug"))
    assert point_of(crashed, "ms-2").message == "raised ValueError('bug')" and point_of(crashed, "ms-2").summary is None


def test_the_callback_writes_the_page_after_each_multirun_point(tmp_path):
    from omegaconf import OmegaConf

    from kernelevolve.sweep.callback import SweepPageCallback

    run = make_run(tmp_path / "runs", "ms-0")
    hydra_cfg = OmegaConf.create({"hydra": {"mode": "MULTIRUN", "sweep": {"dir": str(tmp_path / "sweeps" / "ms")},
                                            "job": {"num": 0}}})
    callback = SweepPageCallback()
    job = JobReturn(overrides=["search=greedy"], status=JobStatus.COMPLETED, hydra_cfg=hydra_cfg,
                    _return_value=Launched(code=0, run_id="ms-0", run_dir=run))
    callback.on_job_end(OmegaConf.create({}), job)
    page = (tmp_path / "sweeps" / "ms" / "index.html").read_text()
    assert "<td>ms-0</td><td>SUCCEEDED</td>" in page
    assert Path(tmp_path / "sweeps" / "ms" / "summary.md").is_file()
