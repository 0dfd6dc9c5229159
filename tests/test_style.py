"""House rules checked on every file (STYLE.md R5, R43, R2)."""

from __future__ import annotations

import ast
import graphlib
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


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _library_imports() -> dict[str, set[str]]:
    """Returns, per kernelevolve module, the kernelevolve modules it imports (at the top or inside a function)."""
    modules = {_module_name(p): p for p in (ROOT / "kernelevolve").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                             for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_the_library_has_no_import_cycle():
    try:
        tuple(graphlib.TopologicalSorter(_library_imports()).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"these modules import each other (move the shared part into a third): {exc.args[1]}") from exc


def test_only_paths_py_locates_the_checkout():
    pattern = re.compile(r"kernelevolve\.__file__\)\.resolve\(\)\.(parents\[\d\]|parent\.parent)")
    allowed = {"kernelevolve/paths.py",
               "kernelevolve/eval/sandbox.py"}  # TODO(#20): paths.project_root() once the sandbox change of #16 lands
    offenders = [rel for p in (ROOT / "kernelevolve").rglob("*.py")
                 if (rel := str(p.relative_to(ROOT))) not in allowed and pattern.search(p.read_text())]
    assert not offenders, f"use kernelevolve.paths (project_root, knowledge_base_root): {offenders}"
