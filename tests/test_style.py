"""House rules checked on every file (STYLE.md R5, R43, R2)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
BARE_TODO = re.compile(r"#\s*TODO(?!\(#\d+\))")
PY_FILES = sorted(p for d in ("kernelevolve", "actors", "tests", "benchmarks") for p in (ROOT / d).rglob("*.py"))


def test_no_python_file_passes_the_line_cap():
    too_long = {str(p.relative_to(ROOT)): n for p in PY_FILES if (n := p.read_text().count("\n")) > MAX_LINES}
    assert not too_long, f"split these files by concept (cap {MAX_LINES} lines): {too_long}"


def test_every_todo_names_an_issue():
    bare = [f"{p.relative_to(ROOT)}:{i}" for p in PY_FILES
            for i, line in enumerate(p.read_text().splitlines(), 1) if BARE_TODO.search(line)]
    assert not bare, f"write TODO(#N) with an issue number: {bare}"


def test_core_never_imports_ray():
    pattern = re.compile(r"^\s*(import ray|from ray)", re.MULTILINE)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "kernelevolve").rglob("*.py") if pattern.search(p.read_text())]
    assert not offenders, f"Ray belongs in actors/, not the core: {offenders}"


def test_only_the_entry_points_reach_into_actors():
    pattern = re.compile(r"^\s*(import actors|from actors)", re.MULTILINE)
    allowed = {"kernelevolve/launch.py", "kernelevolve/cli.py"}
    offenders = [rel for p in (ROOT / "kernelevolve").rglob("*.py")
                 if (rel := str(p.relative_to(ROOT))) not in allowed and pattern.search(p.read_text())]
    assert not offenders, f"the core must not import the Ray adapters (STYLE R2): {offenders}"
