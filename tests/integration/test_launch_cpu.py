"""The walking skeleton, end to end on CPU: `python -m kernelevolve.launch +experiment=conv1d` searches,
evaluates real Triton kernels under the interpreter, and leaves a complete run directory."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _launch(tmp_path: Path, *overrides: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.run([sys.executable, "-m", "kernelevolve.launch", *overrides, f"store.root={tmp_path}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("runs")
    proc = _launch(tmp_path, "+experiment=conv1d", "search.max_steps=5", "search.stall=0", "platform=cpu",
                   "run.id=e2e")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp_path / "e2e", proc


@pytest.mark.slow
def test_run_directory_holds_every_node_with_its_kernel_and_overview(finished_run):
    run_dir, _ = finished_run
    rows = sqlite3.connect(run_dir / "meta.db").execute(
        "SELECT id, parent_id, status, score, is_buggy, kernel_path, overview_path FROM nodes ORDER BY id").fetchall()
    assert len(rows) >= 5
    assert rows[0][1] is None and all(r[1] is not None for r in rows[1:]), "one root, every other node has a parent"
    for node_id, _, status, score, is_buggy, kernel, overview in rows:
        assert Path(kernel).name == f"kernel_{node_id}.py" and Path(kernel).is_file()
        assert Path(overview).is_file() and f"# Node {node_id}" in Path(overview).read_text()
        assert bool(is_buggy) == (status != "ok")
        assert (score > 0) == (status == "ok")


@pytest.mark.slow
def test_best_kernel_is_a_correct_triton_kernel(finished_run):
    run_dir, proc = finished_run
    db = sqlite3.connect(run_dir / "meta.db")
    ok = db.execute("SELECT kernel_path FROM nodes WHERE status = 'ok'").fetchall()
    assert ok, "at least one correct kernel"
    best = (run_dir / "best_kernel.py").read_text()
    assert "@triton.jit" in best and "class ModelNew" in best
    assert str(run_dir / "best_kernel.py") in proc.stdout.replace("\n", "")
    assert "interpreter" in (run_dir / "report.md").read_text()
    dispatch = (run_dir / "export" / "DISPATCH.md").read_text()
    assert "node " in dispatch and (run_dir / "export" / "__init__.py").is_file()


@pytest.mark.slow
def test_every_run_leaves_an_html_report_and_a_summary_line(finished_run):
    run_dir, proc = finished_run
    page = (run_dir / "report.html").read_text()
    for plot in ("fitness-vs-candidates", "fitness-vs-time", "tree", "shapes", "time"):
        assert f'data-plot="{plot}"' in page
    line = next(x for x in proc.stdout.splitlines() if x.startswith("kernelevolve-summary: "))  # a result: stdout
    summary = json.loads(line.split(": ", 1)[1])
    assert summary["run_id"] == "e2e" and summary["candidates"] >= 5 and summary["state"] == "finished"


@pytest.mark.slow
def test_run_records_config_versions_and_why_it_stopped(finished_run):
    run_dir, _ = finished_run
    status, reason, versions = sqlite3.connect(run_dir / "meta.db").execute(
        "SELECT status, stop_reason, versions_json FROM runs").fetchone()
    assert (status, reason) == ("finished", "max_steps")
    assert '"triton"' in versions and '"torch"' in versions


def test_a_misspelt_override_is_one_line_with_the_right_spelling(tmp_path):
    proc = _launch(tmp_path, "+experiment=conv1d", "search.max_stepz=4", "platform=cpu", timeout=120)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == ("error: unknown config key 'search.max_stepz' in search.max_stepz=4; did you mean "
                           "search.max_steps=4? `python -m kernelevolve.launch --cfg job` prints every key.\n")
    assert not any(tmp_path.iterdir()), "no run directory is created for a bad config"


def test_a_task_without_inputs_is_refused_before_any_run_directory_exists(tmp_path):
    task = tmp_path / "no_inputs.py"
    task.write_text("from torch import nn\nclass Model(nn.Module):\n    def forward(self, x):\n        return x\n")
    proc = _launch(tmp_path / "runs", f"task.path={task}", "platform=cpu", timeout=120)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (f"error: {task}: defines neither get_inputs() nor make_inputs(shape, seed); add "
                           "get_inputs() returning the list of forward inputs (KernelBench format). (`kernelevolve "
                           f"task check {task}` runs every check on every shape)\n")
    assert not (tmp_path / "runs").exists()


def test_missing_llm_credentials_leave_no_run_directory_and_v_adds_the_traceback(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    quiet = _launch(tmp_path, "llm=openai", "platform=cpu", timeout=120)
    assert (quiet.returncode, quiet.stdout) == (2, "")
    assert quiet.stderr == ("error: llm endpoint api.openai.com needs a key: set the environment variable "
                            "OPENAI_API_KEY (llm.openai.api_key_env names it), or set llm.openai.require_key=false "
                            "for a self-hosted server.\n")
    assert not any(tmp_path.iterdir())
    loud = _launch(tmp_path, "-v", "llm=openai", "platform=cpu", timeout=120)
    assert loud.returncode == 2 and loud.stderr.startswith("Traceback") and loud.stderr.endswith(quiet.stderr)


def test_an_unknown_task_is_an_actionable_error(tmp_path):
    proc = _launch(tmp_path, "task.name=conv9d", "platform=cpu", timeout=120)
    assert proc.returncode == 2
    assert "conv9d" in proc.stderr and "built-ins" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("override,change", [("search=mcts", "search.policy: 'greedy' -> 'mcts' (search=mcts)"),
                                             ("task=map_id", "task.name: 'conv1d' -> 'map_id' (task=map_id)")])
def test_resume_refuses_a_group_choice_that_changes_the_run(finished_run, override, change):
    run_dir, _ = finished_run
    proc = _launch(run_dir.parent, "run.resume=e2e", override, timeout=120)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith(f"error: a resumed run keeps what it searches; these overrides would change it: "
                                  f"{change}. On resume only budgets and where the run executes may change (")


@pytest.mark.slow
def test_resume_by_path_counts_progress_from_the_stored_nodes(finished_run):
    run_dir, _ = finished_run
    proc = _launch(run_dir.parent, f"run.resume={run_dir}", "search.max_steps=5", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("run e2e (resumed): task conv1d, platform cpu")
    assert " 5/5 resumed: 5 evaluated before " in proc.stderr, "the bar starts from the stored counters, not 0/5"
