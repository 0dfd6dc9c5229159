"""actors/sweep_jobs.py against a scripted Jobs API: follow to the end, show what runs say, collect points."""

from __future__ import annotations

import dataclasses

from actors.sweep_jobs import SweepJob, collect, follow, latest_line, submit
from kernelevolve.sweep.summary import SUMMARY_MARK, summarize
from tests.unit.report.run_store import make_run

WAITING = "waiting for resources (4s): this run needs 2 CPU, 0 GPU (1 evaluator(s) of 1 CPU, 0 GPU + 2 expander(s))"


@dataclasses.dataclass
class Info:
    status: str
    message: str = ""


class ScriptedJobs:
    """Each job walks through its scripted (status, logs) steps, one per get_job_info call."""

    def __init__(self, script: dict[str, list[tuple[str, str]]]) -> None:
        self.script, self.at, self.submitted = script, dict.fromkeys(script, -1), []

    def submit_job(self, **kwargs):
        self.submitted.append(kwargs)

    def get_job_info(self, name: str) -> Info:
        self.at[name] = min(self.at[name] + 1, len(self.script[name]) - 1)
        status, _ = self.script[name][self.at[name]]
        return Info(status=status, message=f"Job {name} {status.lower()}")

    def get_job_logs(self, name: str) -> str:
        return self.script[name][max(self.at[name], 0)][1]


def test_a_run_s_latest_status_line_is_found_among_ray_noise():
    logs = f"\x1b[33mINFO worker started\x1b[0m\n{WAITING}\n(EvaluatorActor pid=9) noise\n"
    assert latest_line(logs) == WAITING
    assert latest_line("search\rsearch evaluated 3  failures 1  in flight 1  best speedup 1.2\r\n") == \
        "evaluated 3  failures 1  in flight 1  best speedup 1.2"
    assert latest_line("nothing the run said\n") == ""


def test_follow_reports_each_change_and_returns_once_every_job_ended():
    jobs = ScriptedJobs({"s-0": [("PENDING", ""), ("RUNNING", "evaluated 1  x"), ("SUCCEEDED", "evaluated 2  x")],
                         "s-1": [("RUNNING", WAITING), ("RUNNING", WAITING), ("RUNNING", "evaluated 1  y"),
                                 ("FAILED", "error: boom")]})
    seen = []
    final = follow(jobs, ["s-0", "s-1"], every_s=0, on_change=lambda states: seen.append(dict(states)), sleep=lambda _: None)
    assert {n: s.status for n, s in final.items()} == {"s-0": "SUCCEEDED", "s-1": "FAILED"}
    assert seen[0]["s-1"].latest == WAITING and seen[-1]["s-1"].latest == "error: boom"
    assert len(seen) == 4, "no repeated call for an unchanged state"


def test_follow_stops_at_its_timeout_with_the_jobs_as_they_are():
    jobs = ScriptedJobs({"s-0": [("RUNNING", "evaluated 1  x")], "s-1": [("SUCCEEDED", "")]})
    states = follow(jobs, ["s-0", "s-1"], every_s=0, on_change=lambda _: None, timeout_s=1e-9, sleep=lambda _: None)
    assert {n: s.status for n, s in states.items()} == {"s-0": "RUNNING", "s-1": "SUCCEEDED"}


def test_submit_names_each_job_after_its_point():
    jobs = ScriptedJobs({})
    submit(jobs, [SweepJob(name="s-0", overrides=["a=1"], entrypoint="python -m x")], {"working_dir": "."}, 0)
    assert jobs.submitted[0]["submission_id"] == "s-0" and jobs.submitted[0]["entrypoint_num_gpus"] is None


def test_points_take_numbers_from_the_local_store_else_from_the_logged_summary(tmp_path):
    local = make_run(tmp_path / "runs", "s-0")
    (local / "report.html").write_text("<html></html>")
    remote = summarize(make_run(tmp_path / "elsewhere", "s-1"))
    refused = "error: this run asks for 9 CPU, 0 GPU ... the cluster has 2 CPU, 0 GPU in total\n"
    jobs = ScriptedJobs({"s-0": [("SUCCEEDED", "done")], "s-1": [("SUCCEEDED", f"{SUMMARY_MARK}{remote.to_json()}\n")],
                         "s-2": [("FAILED", refused)], "s-3": [("FAILED", refused)]})
    make_run(tmp_path / "runs", "s-3")  # a local run that stopped before writing its report
    sweep = [SweepJob(name=f"s-{i}", overrides=[f"seed={i}"], entrypoint="x") for i in range(4)]
    states = follow(jobs, [j.name for j in sweep], every_s=0, on_change=lambda _: None, sleep=lambda _: None)
    points = collect(jobs, sweep, states, tmp_path / "runs")
    assert points[0].summary == summarize(local) and points[0].report == str(local / "report.html")
    assert points[1].summary == remote and points[1].report == str(tmp_path / "runs" / "s-1" / "report.html")
    assert points[2].summary is None and points[2].message.startswith("error: this run asks for 9 CPU")
    assert points[2].report is None and points[3].report is None, "no link to a report that was never written"
