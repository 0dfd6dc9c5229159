"""interp_jobs.run_jobs: shares run at once, each result lands at its job's index, a failing share is named."""

from __future__ import annotations

import sys

import pytest

from tests.unit.tasks.interp_jobs import in_job_order, run_jobs

DOUBLE = ("import json, os, sys, time\n"
          "jobs = json.loads(sys.argv[1])\n"
          "time.sleep(max(j.get('sleep', 0) for j in jobs))\n"
          "sys.exit(3) if any(j.get('fail') for j in jobs) else None\n"
          "print('noise')\n"
          "print(json.dumps([[j['x'] * 2, os.environ['TRITON_INTERPRET']] for j in jobs]))\n")


def test_every_job_runs_once_under_the_interpreter_and_its_result_maps_back_to_its_index():
    jobs = [{"x": x} for x in range(5)]
    shares = run_jobs([sys.executable, "-c", DOUBLE], jobs)
    assert [share for share, _ in shares] == [[0, 2, 4], [1, 3]]
    assert in_job_order(shares) == [[2 * x, "1"] for x in range(5)]


def test_a_failing_share_is_named_and_a_slow_one_is_stopped_at_the_deadline():
    with pytest.raises(AssertionError, match=r"jobs \[1\] exited 3"):
        run_jobs([sys.executable, "-c", DOUBLE], [{"x": 0}, {"x": 1, "fail": True}])
    with pytest.raises(AssertionError, match=r"jobs \[0\] still running after 1 s"):
        run_jobs([sys.executable, "-c", DOUBLE], [{"x": 0, "sleep": 30}, {"x": 1}], timeout_s=1.0)
