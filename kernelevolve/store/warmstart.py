"""Warm start across runs: the best kernels of earlier runs, to plant as roots of a new run."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from kernelevolve.core.errors import StoreError
from kernelevolve.core.types import Candidate
from kernelevolve.store.archive import open_archive
from kernelevolve.store.sqlite import SqliteMetadataStore

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoredKernel:
    """A correct kernel of an earlier run."""

    run_id: str
    node_id: int
    task: str
    score: float
    source: str

    def as_seed(self) -> Candidate:
        """Returns the kernel as a root candidate of a new run."""
        return Candidate(source=self.source, parent_id=None, origin=f"warm:{self.run_id}/{self.node_id}",
                         note=f"warm start from run {self.run_id} node {self.node_id} (score {self.score:.3f})")


def best_kernels(store_root: Path, seed_from: str, k: int) -> list[StoredKernel]:
    """Returns the k best correct kernels (distinct sources) of run `seed_from` under `store_root`, or,
    when no run has that id, of every run there whose task is named `seed_from`; raises StoreError if
    neither matches."""
    root = Path(store_root)
    run_dirs = [root / seed_from] if (root / seed_from / "meta.db").is_file() else _runs_of_task(root, seed_from)
    if not run_dirs:
        raise StoreError(f"search.seed_from={seed_from!r}: no run with that id and no run of that task under "
                         f"{root}; list runs with `kernelevolve runs list --root {root}`.")
    found = [kernel for run_dir in run_dirs for kernel in _correct_kernels(run_dir)]
    found.sort(key=lambda s: (-s.score, s.run_id, s.node_id))
    out: list[StoredKernel] = []
    for kernel in found:
        if len(out) < k and all(kernel.source != o.source for o in out):
            out.append(kernel)
    logger.info("warm start from %s: %d kernel(s) of %d run(s)", seed_from, len(out), len(run_dirs))
    return out


def _runs_of_task(root: Path, task: str) -> list[Path]:
    if not root.is_dir():
        return []
    out = []
    for db_path in sorted(root.glob("*/meta.db")):
        meta = SqliteMetadataStore(db_path)
        try:
            if any(run["task"] == task for run in meta.runs()):
                out.append(db_path.parent)
        finally:
            meta.close()
    return out


def _correct_kernels(run_dir: Path) -> list[StoredKernel]:
    meta = SqliteMetadataStore(run_dir / "meta.db")
    try:
        rows = meta.execute("SELECT run_id, id, task, score, kernel_path FROM nodes"
                            " WHERE is_buggy = 0 AND state = 'evaluated' ORDER BY score DESC, id")
    finally:
        meta.close()
    out = []
    archive = open_archive(run_dir)  # reads local files or s3:// objects, as the run stored them
    try:
        for row in rows:
            try:
                source = archive.read_source(row["kernel_path"])
            except StoreError as exc:
                logger.warning("warm start: kernel of node %d of run %s is unreadable (%s); skipped",
                               row["id"], row["run_id"], exc)
                continue
            out.append(StoredKernel(run_id=row["run_id"], node_id=row["id"], task=row["task"], score=row["score"],
                                    source=source))
    finally:
        archive.close()
    return out
