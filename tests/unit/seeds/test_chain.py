"""The seed chain: a KernelBench file with no hand-written seed is searched from torch.compile's captured Triton."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kernelevolve.core.errors import ConfigError
from kernelevolve.seeds.chain import ORIGIN_INDUCTOR, resolve_seed
from kernelevolve.tasks import load_task

ROOT = Path(__file__).resolve().parents[3]
KB = ROOT / "tests" / "assets" / "kernelbench"


def _launch(*overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.run([sys.executable, "-m", "kernelevolve.launch", *overrides], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_with_no_seed_anywhere_each_step_says_why_in_one_line(tmp_path):
    task = load_task(str(KB / "level1" / "2_leaky_relu.py"))
    with pytest.raises(ConfigError) as info:
        resolve_seed(task, sample=tmp_path / "seed.py", capture_path=str(tmp_path), platform="cpu", draft=None)
    lines = str(info.value).splitlines()
    assert lines[0] == "no seed kernel for task 2_leaky_relu:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["sample", "inductor", "llm"]
    assert "2_leaky_relu.json" in lines[2] and "kernelevolve seed capture" in lines[2]


def test_a_launch_with_no_seed_exits_2_before_making_a_run(tmp_path):
    proc = _launch(f"task.path={KB / 'level1' / '2_leaky_relu.py'}", "platform=cpu", "llm=offline",
                   "cluster=local", f"store.root={tmp_path}")
    assert proc.returncode == 2
    assert "error: no seed kernel for task 2_leaky_relu:\n  sample:" in proc.stderr
    assert not any(tmp_path.iterdir())


def test_search_on_a_kernelbench_file_starts_from_the_captured_inductor_seed(tmp_path):
    proc = _launch(f"task.path={KB / 'level1' / '2_leaky_relu.py'}", "platform=cpu", "llm=offline",
                   "cluster=local", f"store.root={tmp_path}", "run.id=kb", "search.max_steps=2",
                   f"operator.capture_path={KB / 'captured'}")
    assert proc.returncode == 0, proc.stderr[-3000:]  # 0: a correct kernel was found and exported
    db = sqlite3.connect(tmp_path / "kb" / "meta.db")
    rows = db.execute("SELECT id, parent_id, origin, status FROM nodes ORDER BY id").fetchall()
    assert rows[0][1] is None and rows[0][2] == ORIGIN_INDUCTOR and rows[0][3] == "ok"
    assert len(rows) >= 2 and all(r[1] is not None for r in rows[1:])
