"""`kernelevolve eval`: exit codes and the --json contract."""

from __future__ import annotations

import argparse
import json

import pytest
from eval_helpers import HERE, SEED, candidate_source

from kernelevolve.eval import commands


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_missing_candidate_is_a_usage_error(tmp_path, capsys):
    from kernelevolve import cli

    assert cli.main(["eval", "conv1d", str(tmp_path / "nope.py"), "--platform", "cpu"]) == 2
    captured = capsys.readouterr()
    assert "nope.py: no such candidate file" in captured.err and "Traceback" not in captured.err


@pytest.mark.slow
def test_json_verdict_for_an_ok_and_a_broken_candidate(tmp_path, capsys):
    assert _run(["eval", "conv1d", str(SEED), "--platform", "cpu", "--json", "--seeds", "1",
                 "--workdir", str(tmp_path)]) == 0
    ok = json.loads(capsys.readouterr().out)
    assert ok["status"] == "ok" and ok["correct"] is True and ok["reason"]
    assert ok["speedup"] is None and ok["fitness_kind"] == "interpreter_time_ratio"  # cpu: never a speedup
    assert ok["interpreter_time_ratio"] == ok["fitness"] > 0
    for phase in ("worker_start", "referee_start", "first_case", "check", "judge", "timing", "finish",
                  "worker.inputs", "worker.import", "worker.check", "worker.timing", "referee.prepare",
                  "referee.compare"):
        assert ok["phases"][phase] >= 0, phase
    assert ok["phases"]["worker.check"] > 0 and ok["phases"]["timing"] > 0
    bad = tmp_path / "wrong_constant.py"  # the fixture is a patch on the seed: the CLI gets the whole file
    bad.write_text(candidate_source(HERE / "adversarial" / "wrong_constant.py"))
    assert _run(["eval", "conv1d", str(bad), "--platform", "cpu", "--json", "--seeds", "1",
                 "--workdir", str(tmp_path)]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["status"] == "incorrect" and verdict["correct"] is False and verdict["fitness"] == 0.0
    assert verdict["mismatch"]["max_abs_err"] > 0
    assert "timing" not in verdict["phases"] and verdict["phases"]["judge"] > 0  # rejected before any timing
