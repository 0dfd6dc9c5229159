"""Run metadata in SQLite: WAL with synchronous=FULL, so a committed row survives a kill or a power loss.

One process writes (the archive); a lock serializes threads of that process (operators may record
LLM calls from their worker threads). `transaction()` groups writes that must land together, e.g. a
new node and the expansion step that produced it: a kill leaves all of them or none.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kernelevolve.core.errors import StoreError
from kernelevolve.store import lineage
from kernelevolve.store.schema import SCHEMA, SCHEMA_VERSION, migrate

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 5.0  # how long a statement waits for another process's write lock before it fails as locked


def store_error(path: Path, exc: sqlite3.Error, doing: str) -> StoreError:
    """Returns the StoreError for a failed SQLite call on `path`: what happened, and what to do about it.

    Branches on SQLite's result code (the primary code: the low byte of the extended one), never on text.
    """
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StoreError(f"{path} is damaged ({exc}); `kernelevolve runs doctor {path.parent}` checks it and "
                          "copies what is still readable into a new file, leaving the original as it is.")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(f"{path} is locked by another process ({exc}); a running search writes to it: wait for "
                          "it to finish or stop it, then retry.")
    if code == sqlite3.SQLITE_READONLY:
        return StoreError(f"{path} is read-only ({exc}); give this user write access to it and its directory, "
                          "or copy the run directory somewhere writable.")
    if code == sqlite3.SQLITE_FULL:
        return StoreError(f"the disk holding {path} is full ({exc}); free some space and retry.")
    if code == sqlite3.SQLITE_CANTOPEN:
        return StoreError(f"cannot open {path} ({exc}); check that the path exists and its directory is writable.")
    return StoreError(f"{doing} {path} failed: {exc}")


class SqliteMetadataStore:
    """Runs, nodes, expansion steps, evaluations and LLM calls of a search."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=BUSY_TIMEOUT_S)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
            migrate(self._db)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise store_error(self.path, exc, "opening the metadata DB") from exc
        self._lock = threading.RLock()
        self._depth = 0

    def close(self) -> None:
        """Closes the connection."""
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Yields the connection inside one transaction (nested calls join the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise store_error(self.path, exc, "starting a metadata transaction on") from exc
            self._depth = 1
            try:
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise store_error(self.path, exc, "a metadata transaction (rolled back) on") from exc
            except BaseException:
                self._rollback()
                raise
            finally:
                self._depth = 0

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Turns a SQLite error raised by a read outside `transaction` into the StoreError that names the fix."""
        try:
            yield
        except sqlite3.Error as exc:
            raise store_error(self.path, exc, "reading") from exc

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:  # a damaged file can fail the rollback too; the first error is the one to show
            logger.warning("rollback of %s failed: %s", self.path, exc)

    def execute(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        """Runs one statement (in its own transaction when none is open) and returns its rows."""
        with self.transaction() as db:
            return [dict(r) for r in db.execute(sql, params).fetchall()]

    def create_run(self, *, run_id: str, task: str, platform: str, config: dict[str, Any],
                   versions: dict[str, str], host: str) -> None:
        """Records a new run."""
        self.execute("INSERT INTO runs (id, created_at, task, platform, config_json, versions_json, host, status)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, 'running')",
                     (run_id, time.time(), task, platform, json.dumps(config), json.dumps(versions), host))

    def get_run(self, run_id: str) -> dict[str, Any]:
        """Returns the run row as a dict; raises StoreError for an unknown id."""
        rows = self.execute("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise StoreError(f"no run {run_id!r} in {self.path}")
        return rows[0]

    def runs(self) -> list[dict[str, Any]]:
        """Returns every run row, oldest first."""
        return self.execute("SELECT * FROM runs ORDER BY created_at, id")

    def finish_run(self, run_id: str, *, status: str, stop_reason: str | None, progress: dict[str, Any]) -> None:
        """Marks a run finished (or interrupted) with why and its final counters."""
        self.execute("UPDATE runs SET status = ?, stop_reason = ?, progress_json = ? WHERE id = ?",
                     (status, stop_reason, json.dumps(progress), run_id))

    def mark_running(self, run_id: str) -> None:
        """Marks a resumed run as running again, owned by nobody until a heartbeat claims it."""
        self.execute("UPDATE runs SET status = 'running', stop_reason = NULL, owner_pid = NULL, owner_host = NULL,"
                     " heartbeat_at = NULL WHERE id = ?", (run_id,))

    def claim_run(self, run_id: str, *, pid: int, host: str, at: float) -> None:
        """Records the process that runs the run (pid on host) and its first heartbeat (epoch seconds)."""
        self.execute("UPDATE runs SET owner_pid = ?, owner_host = ?, heartbeat_at = ? WHERE id = ?",
                     (pid, host, at, run_id))

    def beat(self, run_id: str, at: float) -> None:
        """Refreshes the run's heartbeat (epoch seconds)."""
        self.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (at, run_id))

    def save_progress(self, run_id: str, progress: dict[str, Any]) -> None:
        """Persists the budget counters so a resumed run continues them."""
        self.execute("UPDATE runs SET progress_json = ? WHERE id = ?", (json.dumps(progress), run_id))

    def insert(self, table: str, row: dict[str, Any]) -> int:
        """Inserts one row (column -> value) into a schema table; returns its rowid."""
        if table not in ("nodes", "expansions", "evaluations", "llm_calls"):
            raise StoreError(f"unknown table {table!r}")
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.transaction() as db:
            cursor = db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))
            return int(cursor.lastrowid or 0)

    def update(self, table: str, key: dict[str, Any], values: dict[str, Any]) -> None:
        """Updates the row of `table` matching every key column; raises StoreError when none matches."""
        if table not in ("nodes", "expansions"):
            raise StoreError(f"unknown table {table!r}")
        sets = ", ".join(f"{c} = ?" for c in values)
        where = " AND ".join(f"{c} = ?" for c in key)
        with self.transaction() as db:
            cursor = db.execute(f"UPDATE {table} SET {sets} WHERE {where}", (*values.values(), *key.values()))
            if cursor.rowcount != 1:
                raise StoreError(f"expected one {table} row for {key}, updated {cursor.rowcount}")

    def nodes(self, run_id: str) -> list[dict[str, Any]]:
        """Returns every node row of a run, by id."""
        return self.execute("SELECT * FROM nodes WHERE run_id = ? ORDER BY id", (run_id,))

    def expansions(self, run_id: str) -> list[dict[str, Any]]:
        """Returns every expansion step of a run, by step."""
        return self.execute("SELECT * FROM expansions WHERE run_id = ? ORDER BY step", (run_id,))

    def evaluations(self, run_id: str) -> list[dict[str, Any]]:
        """Returns every evaluation of a run, in arrival order."""
        return self.execute("SELECT * FROM evaluations WHERE run_id = ? ORDER BY id", (run_id,))

    def llm_calls(self, run_id: str) -> list[dict[str, Any]]:
        """Returns every recorded LLM call of a run, in order."""
        return self.execute("SELECT * FROM llm_calls WHERE run_id = ? ORDER BY id", (run_id,))

    def ancestors(self, run_id: str, node_id: int) -> list[int]:
        """Returns ids from the node's parent up to its root (recursive SQL)."""
        with self._lock, self._reading():
            return lineage.ancestors(self._db, run_id, node_id)

    def subtree(self, run_id: str, node_id: int) -> list[int]:
        """Returns the node and its descendants, breadth first (recursive SQL)."""
        with self._lock, self._reading():
            return lineage.subtree(self._db, run_id, node_id)

    def best_path(self, run_id: str) -> list[int]:
        """Returns ids from a root down to the best correct node (recursive SQL)."""
        with self._lock, self._reading():
            return lineage.best_path(self._db, run_id)


def open_run(run_dir: Path) -> tuple[SqliteMetadataStore, dict[str, Any]]:
    """Returns the open metadata DB of a run directory and its run row; the caller closes the DB.

    Raises StoreError (the DB left closed) when the directory holds no meta.db or no run.
    """
    if not (Path(run_dir) / "meta.db").is_file():
        raise StoreError(f"{run_dir} holds no run (no meta.db); give a run directory such as runs/<run-id>.")
    meta = SqliteMetadataStore(Path(run_dir) / "meta.db")
    runs = meta.runs()
    if not runs:
        meta.close()
        raise StoreError(f"{run_dir}/meta.db holds no run")
    return meta, runs[0]
