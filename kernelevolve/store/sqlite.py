"""Run metadata in SQLite: one writer, WAL with synchronous=FULL so a committed node survives power loss."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from kernelevolve.core.errors import StoreError
from kernelevolve.core.types import Candidate, EvalResult, Node, NodeState

ERROR_EXCERPT_CHARS = 2000  # full logs go to the object store; the DB keeps an excerpt

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, task TEXT NOT NULL, platform TEXT NOT NULL,
    config_json TEXT NOT NULL, versions_json TEXT NOT NULL, host TEXT NOT NULL,
    status TEXT NOT NULL, stop_reason TEXT, progress_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS nodes (
    run_id TEXT NOT NULL REFERENCES runs(id), id INTEGER NOT NULL, parent_id INTEGER,
    task TEXT NOT NULL, platform TEXT NOT NULL, state TEXT NOT NULL, status TEXT,
    score REAL NOT NULL DEFAULT 0, is_buggy INTEGER NOT NULL DEFAULT 0, reason TEXT, error TEXT,
    timings_json TEXT, metrics_json TEXT, result_json TEXT, origin TEXT NOT NULL, note TEXT NOT NULL,
    kernel_path TEXT, overview_path TEXT, created_at REAL NOT NULL, evaluated_at REAL,
    PRIMARY KEY (run_id, id)
);
CREATE INDEX IF NOT EXISTS nodes_parent ON nodes(run_id, parent_id);
"""


class SqliteMetadataStore:
    """Runs and nodes of the search graph. Not thread-safe: one writer (the archive) owns it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open metadata DB {self.path}: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Closes the connection."""
        self._db.close()

    def create_run(self, *, run_id: str, task: str, platform: str, config: dict[str, Any],
                   versions: dict[str, str], host: str) -> None:
        """Records a new run."""
        self._db.execute(
            "INSERT INTO runs (id, created_at, task, platform, config_json, versions_json, host, status)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
            (run_id, time.time(), task, platform, json.dumps(config), json.dumps(versions), host),
        )

    def get_run(self, run_id: str) -> dict[str, Any]:
        """Returns the run row as a dict; raises StoreError for an unknown id."""
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {run_id!r} in {self.path}")
        return dict(row)

    def finish_run(self, run_id: str, *, status: str, stop_reason: str | None, progress: dict[str, Any]) -> None:
        """Marks a run finished (or interrupted) with why and its final counters."""
        self._db.execute(
            "UPDATE runs SET status = ?, stop_reason = ?, progress_json = ? WHERE id = ?",
            (status, stop_reason, json.dumps(progress), run_id),
        )

    def save_progress(self, run_id: str, progress: dict[str, Any]) -> None:
        """Persists the budget counters so a resumed run continues them."""
        self._db.execute("UPDATE runs SET progress_json = ? WHERE id = ?", (json.dumps(progress), run_id))

    def add_node(self, run_id: str, node: Node, *, task: str, platform: str, kernel_path: str) -> None:
        """Inserts a new (pending) node."""
        c = node.candidate
        self._db.execute(
            "INSERT INTO nodes (run_id, id, parent_id, task, platform, state, origin, note, kernel_path, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, node.id, node.parent_id, task, platform, node.state.value, c.origin, c.note,
             kernel_path, node.created_at),
        )

    def record_result(self, run_id: str, node: Node, *, overview_path: str | None) -> None:
        """Stores a node's verdict (state, status, score, timings, metrics) in one transaction."""
        r = node.result
        if r is None:
            raise StoreError(f"node {node.id} has no result to record")
        self._db.execute(
            "UPDATE nodes SET state = ?, status = ?, score = ?, is_buggy = ?, reason = ?, error = ?,"
            " timings_json = ?, metrics_json = ?, result_json = ?, overview_path = ?, evaluated_at = ?"
            " WHERE run_id = ? AND id = ?",
            (node.state.value, r.status.value, node.score, int(node.is_buggy), r.reason,
             (r.error or "")[:ERROR_EXCERPT_CHARS] or None,
             json.dumps([t.__dict__ for t in r.timings]), json.dumps(r.metrics),
             json.dumps(r.to_dict()), overview_path, time.time(), run_id, node.id),
        )

    def nodes(self, run_id: str) -> list[dict[str, Any]]:
        """Returns every node row of a run, by id."""
        rows = self._db.execute("SELECT * FROM nodes WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        return [dict(r) for r in rows]

    def load_nodes(self, run_id: str, read_source: Any) -> list[Node]:
        """Returns the run's nodes as domain objects; `read_source(kernel_path) -> str` loads sources."""
        out = []
        for row in self.nodes(run_id):
            result = EvalResult.from_dict(json.loads(row["result_json"])) if row["result_json"] else None
            cand = Candidate(source=read_source(row["kernel_path"]), parent_id=row["parent_id"],
                             origin=row["origin"], note=row["note"])
            out.append(Node(id=row["id"], parent_id=row["parent_id"], candidate=cand,
                            state=NodeState(row["state"]), result=result, created_at=row["created_at"]))
        return out
