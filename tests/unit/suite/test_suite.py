"""`kernelevolve suite` over four problems: one searched from its captured Inductor seed, one whose capture called
cuBLAS (named, not wrapped), one with no seed, and KernelBench's own level-3 LeNet-5 (no seed on a CPU: each step
says why, and the suite goes on); the summary is written, a second start re-runs nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kernelevolve.suite import runner
from kernelevolve.suite.runner import SuiteConfig, find_problems, run_suite
from kernelevolve.suite.scores import ProblemResult, fast_p, geomean_speedup, suite_markdown, suite_scores

ROOT = Path(__file__).resolve().parents[3]
KB = ROOT / "tests" / "assets" / "kernelbench"
NO_SEED = """import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x):
        return torch.tanh(x) * 3


def get_inputs():
    return [torch.randn(5, 7)]


def get_init_inputs():
    return []
"""


def _result(problem: str, correct: bool, eager: float | None, compile_: float | None) -> ProblemResult:
    return ProblemResult(problem=problem, path=f"{problem}.py", run_id=problem, seed_origin="seed:inductor",
                         correct=correct, reason="" if correct else "incorrect", evaluated=3, wall_s=1.0,
                         speedup={"eager": eager, "compile": compile_})


def test_fast_p_counts_correct_problems_faster_than_p_over_all_problems():
    results = [_result("a", True, 2.5, 0.9), _result("b", True, 1.2, 1.1), _result("c", False, None, None),
               _result("d", True, 0.5, 0.4)]
    assert fast_p(results, "eager", 0.0) == 0.75 and fast_p(results, "eager", 1.0) == 0.5
    assert fast_p(results, "eager", 2.0) == 0.25 and fast_p(results, "compile", 1.0) == 0.25
    assert geomean_speedup(results, "eager") == pytest.approx((2.5 * 1.2 * 0.5) ** (1 / 3))
    interpreter = [ProblemResult(**{**r.__dict__, "speedup": {"eager": None, "compile": None}}) for r in results]
    assert suite_scores(interpreter)["fast_p"]["eager"]["fast_1"] is None, "no timing is not a score of 0"


def _extern_capture(captures: Path) -> None:
    """Writes a capture of 8_matmul_extern in which Inductor called cuBLAS (extern_kernels.mm) instead of Triton."""
    data = json.loads((KB / "captured" / "1_matmul_rect.json").read_text())
    code = data["shapes"][0]["code"].splitlines()
    data["shapes"][0]["code"] = "\n".join("        extern_kernels.mm(arg0_1, arg1_1, out=buf0)" if ".run(" in line
                                          else line for line in code)
    data["task"] = "8_matmul_extern"
    (captures / "8_matmul_extern.json").write_text(json.dumps(data))


def test_suite_writes_the_summary_and_resumes_without_searching_again(tmp_path, monkeypatch):
    problems_dir, captures = tmp_path / "problems", tmp_path / "captures"
    problems_dir.mkdir()
    captures.mkdir()
    shutil.copy(KB / "level1" / "2_leaky_relu.py", problems_dir / "2_leaky_relu.py")
    shutil.copy(KB / "captured" / "2_leaky_relu.json", captures / "2_leaky_relu.json")
    shutil.copy(KB / "level1" / "1_matmul_rect.py", problems_dir / "8_matmul_extern.py")
    _extern_capture(captures)
    (problems_dir / "9_tanh_no_seed.py").write_text(NO_SEED)
    shutil.copy(KB / "upstream_level3" / "4_LeNet5.py", problems_dir / "4_LeNet5.py")
    out = tmp_path / "suite"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "kernelevolve.cli", "suite", "--out", str(out), "--steps", "2",
                           str(problems_dir), "platform=cpu", "llm=offline", "cluster=local",
                           f"operator.capture_path={captures}"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]  # two problems have no usable seed
    summary = json.loads((out / "summary.json").read_text())
    rows = {p["problem"]: p for p in summary["problems"]}
    assert list(rows) == ["2_leaky_relu", "4_LeNet5", "8_matmul_extern", "9_tanh_no_seed"]
    leaky = rows["2_leaky_relu"]
    assert leaky["correct"] and leaky["seed_origin"] == "seed:inductor" and leaky["evaluated"] == 2
    assert leaky["speedup"] == {"eager": None, "compile": None}, "interpreter timings are not speedups"
    assert "inductor: Inductor emitted no Triton for: extern_kernels.mm" in rows["8_matmul_extern"]["reason"]
    assert not rows["9_tanh_no_seed"]["correct"] and rows["9_tanh_no_seed"]["run_id"] is None
    assert "no seed kernel for task 9_tanh_no_seed" in rows["9_tanh_no_seed"]["reason"]
    lenet = rows["4_LeNet5"]
    assert not lenet["correct"] and lenet["run_id"] is None and lenet["seed_origin"] is None
    assert [step.split(":")[0] for step in lenet["reason"].split(" / ")[1:]] == ["sample", "inductor", "llm"]
    assert "has no 4_LeNet5.json" in lenet["reason"] and "platform cpu has no GPU" in lenet["reason"]
    assert "4_LeNet5: no correct kernel (no seed kernel for task 4_LeNet5" in proc.stdout, "one line, then the next"
    assert summary["scores"]["correct"] == 1 and summary["scores"]["fast_p"]["eager"]["fast_1"] is None
    markdown = (out / "summary.md").read_text()
    assert "Correct: 1 of 4" in markdown and "| 9_tanh_no_seed | - | KernelBench | no correct kernel |" in markdown
    assert "judged with KernelBench's check, atol=0.01 rtol=0.01" in markdown
    assert leaky["tolerance"].startswith("KernelBench's atol=0.01 rtol=0.01"), "plain files: KernelBench's check"

    def no_search(*args, **kwargs):
        raise AssertionError("a finished problem was searched again")

    monkeypatch.setattr(runner, "_search", no_search)
    again = run_suite(find_problems([problems_dir]), SuiteConfig(out=out, max_steps=1))
    assert [r.problem for r in again] == ["2_leaky_relu", "4_LeNet5", "8_matmul_extern", "9_tanh_no_seed"]
    assert json.loads((out / "summary.json").read_text())["scores"] == summary["scores"]


def test_jobs_search_problems_at_once_and_keep_the_problem_order(tmp_path, monkeypatch):
    """--jobs 2: both unfinished problems are in flight together (a barrier only both can pass), a finished one is
    read back, results and the summary keep the given order."""
    files = []
    for name in ("c_first", "a_second", "b_done"):
        files.append(tmp_path / f"{name}.py")
        files[-1].write_text(NO_SEED)
    out = tmp_path / "suite"
    (out / "problems").mkdir(parents=True)
    (out / "problems" / "b_done.json").write_text(_result("b_done", True, 1.5, 0.8).to_json())
    both_in_flight = threading.Barrier(2, timeout=60)
    searched = []

    def search(problem, path, config):
        searched.append(problem)
        both_in_flight.wait()  # raises BrokenBarrierError unless the other search runs at the same time
        return _result(problem, problem == "c_first", 2.0, 1.2)

    monkeypatch.setattr(runner, "_search", search)
    shown = []
    results = run_suite(find_problems(files), SuiteConfig(out=out, jobs=2), on_result=lambda r, resumed:
                        shown.append((r.problem, resumed)))
    assert sorted(searched) == ["a_second", "c_first"], "the finished problem is not searched"
    assert [r.problem for r in results] == ["c_first", "a_second", "b_done"]
    assert shown[0] == ("b_done", True) and sorted(shown[1:]) == [("a_second", False), ("c_first", False)]
    summary = json.loads((out / "summary.json").read_text())
    assert [p["problem"] for p in summary["problems"]] == ["c_first", "a_second", "b_done"]
    assert summary["scores"]["correct"] == 2 and summary["scores"]["fast_p"]["eager"]["fast_1"] == pytest.approx(2 / 3)
    assert json.loads((out / "problems" / "a_second.json").read_text())["correct"] is False


def test_jobs_below_one_is_refused(tmp_path, capsys):
    from kernelevolve import cli

    assert cli.main(["suite", "--out", str(tmp_path), "--jobs", "0", str(KB / "level1")]) == 2
    assert "--jobs 0: give the number of problems to search at once" in capsys.readouterr().err


@pytest.mark.parametrize(("stdout", "stderr", "speedup", "note"), [
    ('{"status": "ok", "correct": true, "speedup": 1.4}\n', "", 1.4, ""),
    ('{"status": "integrity_violation", "correct": false, "speedup": null, "reason": "imported torch._inductor"}\n',
     "", None, "timing vs eager: integrity_violation: imported torch._inductor"),
    ("", "Traceback ...\nRuntimeError: CUDA error: out of memory\n", None,
     "timing vs eager failed (exit 1): Traceback ... / RuntimeError: CUDA error: out of memory"),
])
def test_a_failed_timing_against_the_other_baseline_says_why_and_keeps_its_output(tmp_path, monkeypatch, stdout,
                                                                                   stderr, speedup, note):
    run_dir = tmp_path / "runs" / "p"
    run_dir.mkdir(parents=True)
    (run_dir / "best_kernel.py").write_text("# best\n")
    (tmp_path / "problems").mkdir()
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0 if stdout else 1, stdout=stdout, stderr=stderr)

    monkeypatch.setattr(runner, "run_stoppable", fake_run)
    speedups, got = runner._speedups("p", tmp_path / "p.py", run_dir, 0.9, "speedup", SuiteConfig(out=tmp_path))
    assert speedups == {"compile": 0.9, "eager": speedup} and got == note
    assert calls[0][-3:] == ["--baseline", "eager", "--json"]
    assert (tmp_path / "problems" / "p.eager.log").read_text() == stdout + stderr
    shown = suite_markdown([ProblemResult(problem="p", path="p.py", run_id="p", seed_origin="seed:inductor",
                                          correct=True, reason="", speedup=speedups, evaluated=1, wall_s=1.0,
                                          notes=got)], suite_scores([]), "")
    assert (note or "| 1 |  |") in shown


def test_a_stopped_suite_sends_its_children_sigterm_first_and_starts_no_other(tmp_path, monkeypatch):
    """A SIGTERM's SystemExit in the suite reaches a launch as SIGTERM (it unwinds and kills its judges), not as
    the SIGKILL subprocess.run would send; afterwards no child starts."""
    import threading
    import time

    mark, ready = tmp_path / "got_sigterm", tmp_path / "ready"
    child = ("import signal, sys, time, pathlib\n"
             f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path({str(mark)!r}).write_text('term'), sys.exit(0)))\n"
             f"pathlib.Path({str(ready)!r}).write_text('ready')\ntime.sleep(120)\n")
    monkeypatch.setattr(runner, "STOP_GRACE_S", 30.0)
    outcome: list[BaseException] = []

    def search() -> None:
        try:
            runner.run_stoppable([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion below
            outcome.append(exc)

    runner._STOPPING.clear()
    thread = threading.Thread(target=search)
    thread.start()
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:  # its handler is installed
        time.sleep(0.05)
    runner.stop_children()
    thread.join(timeout=60)
    assert mark.read_text() == "term"
    with pytest.raises(runner.SuiteStopped):
        runner.run_stoppable([sys.executable, "-c", "pass"])
    runner._STOPPING.clear()
