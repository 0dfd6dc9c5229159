"""The project's own docs are in the repository and everything points inside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".git", ".venv", "__pycache__", "runs", ".pytest_cache", "mutants"}  # mutants: mutmut's scratch copy
TEXT = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".j2", ".cfg", ""}
SEEDS = sorted((ROOT / "knowledge_base" / "samples").glob("*/seed.py"))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _repo_files() -> list[Path]:
    return [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in TEXT
            and not SKIP & set(p.relative_to(ROOT).parts) and not p.relative_to(ROOT).parts[0].endswith(".egg-info")]


def test_nothing_points_at_docs_outside_the_repository():
    offenders = [str(p.relative_to(ROOT)) for p in _repo_files() if p != Path(__file__)
                 and ("../shared" in (text := p.read_text(errors="replace")) or "DESIGN.md" in text)]
    assert not offenders, f"these files point at docs that are not in the repository: {offenders}"


def test_every_relative_link_of_the_readme_and_docs_resolves():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK.findall(page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_every_seed_names_its_section_of_the_task_semantics():
    headings = re.findall(r"^## (\d+)\. ", (ROOT / "docs" / "TASKS.md").read_text(), re.MULTILINE)
    assert len(SEEDS) == 7
    for seed in SEEDS:
        docstring = seed.read_text().split('"""')[1]
        section = re.search(r"docs/TASKS\.md §(\d+)", docstring)
        assert section and section.group(1) in headings, f"{seed.relative_to(ROOT)} names no docs/TASKS.md section"
        assert f"kernelevolve/tasks/builtin/{seed.parent.name}.py" in docstring
        assert f"**Built-in:** `{seed.parent.name}`" in (ROOT / "docs" / "TASKS.md").read_text()


def test_the_readme_points_at_the_architecture_and_has_a_troubleshooting_section():
    readme = (ROOT / "README.md").read_text()
    assert "[docs/ARCHITECTURE.md](docs/ARCHITECTURE.md)" in readme and "[docs/TASKS.md](docs/TASKS.md)" in readme
    assert readme.index("## Troubleshooting") < readme.index("## Other commands")
