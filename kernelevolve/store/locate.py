"""Naming a run: every command takes a bare run id (a directory under the store root) or a run directory."""

from __future__ import annotations

import difflib
from pathlib import Path

from kernelevolve.core.errors import StoreError

DB_NAME = "meta.db"


def run_dirs(root: Path) -> list[Path]:
    """Returns the run directories under `root` (those holding a meta.db), sorted by name."""
    return sorted(db.parent for db in Path(root).glob(f"*/{DB_NAME}"))


def resolve_run_dir(run: str | Path, root: Path) -> Path:
    """Returns the directory of the run named `run`: a path to a run directory, or an id under `root`.

    Raises StoreError naming both places it looked, the closest ids under `root`, and how to list them.
    """
    given = Path(run).expanduser()
    for candidate in (given, Path(root) / str(run)):
        if (candidate / DB_NAME).is_file():
            return candidate
    if given.is_dir():
        raise StoreError(f"{given} is a directory but holds no run (no {DB_NAME}); give a run directory such as "
                         f"{Path(root) / '<run-id>'} or a run id.")
    known = [d.name for d in run_dirs(root)]
    close = difflib.get_close_matches(str(run), known, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise StoreError(f"no run {str(run)!r}: neither {given}/{DB_NAME} nor {Path(root) / str(run)}/{DB_NAME} "
                     f"exists{hint}; list the runs with `kernelevolve runs list --root {root}`.")
