"""Where the project's data directories are, relative to the installed (editable) package."""

from __future__ import annotations

from pathlib import Path

import kernelevolve


def project_root() -> Path:
    """Returns the checkout root (the directory holding kernelevolve/, conf/ and knowledge_base/)."""
    return Path(kernelevolve.__file__).resolve().parents[1]


def knowledge_base_root() -> Path:
    """Returns the knowledge_base/ directory."""
    return project_root() / "knowledge_base"


def seed_kernel_path(task_name: str) -> Path:
    """Returns where the seed kernel of a built-in task lives (it may not exist for user tasks)."""
    return knowledge_base_root() / "samples" / task_name / "seed.py"
