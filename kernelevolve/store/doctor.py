"""`runs doctor`: checks a run's meta.db with SQLite's integrity_check and copies what is readable into a new file.

The original is never opened: the check and the recovery read a private copy of meta.db (with its WAL, which
holds the latest commits until a checkpoint) in a temporary directory, so a damaged store stays exactly as it
was for a second opinion. Recovery reads each table in full and, where that fails, row by row by rowid: a row
on a damaged or missing page is lost, every row SQLite can still reach is kept. `writable_schema` lets SQLite
use a schema whose entries point past the end of a truncated file (it is set on the private copy only).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from kernelevolve.core.errors import StoreError
from kernelevolve.store.sqlite import SqliteMetadataStore

logger = logging.getLogger(__name__)

TABLES = ("runs", "nodes", "expansions", "evaluations", "llm_calls")
MAX_MISSES = 1000  # row-by-row reading stops after this many consecutive rowids that are absent or unreadable
ROWID = "kernelevolve_rowid"  # the alias under which rows are read with their rowid


@dataclasses.dataclass(frozen=True, kw_only=True)
class TableRecovery:
    """What could be read back from one table."""

    table: str
    rows: int
    lost_rowids: int  # rowids that failed to read below the highest readable one: rows certainly lost
    tail_unreadable: bool  # reads failed past the last readable row: more rows may be lost, how many is unknown
    error: str = ""  # the error of the full scan ("" when the table read in full)
    nulled_columns: list[str] = dataclasses.field(default_factory=list)  # unreadable in some kept rows: NULL there
    garbled: int = 0  # rows SQLite returned that break the schema (a damaged record): not copied


@dataclasses.dataclass(frozen=True, kw_only=True)
class Diagnosis:
    """The verdict on one meta.db and, when it is damaged, what the recovered copy holds."""

    db: Path
    integrity: list[str]
    tables: list[TableRecovery] = dataclasses.field(default_factory=list)
    lost_node_ids: list[int] = dataclasses.field(default_factory=list)
    missing_kernels: list[int] = dataclasses.field(default_factory=list)
    out: Path | None = None

    @property
    def healthy(self) -> bool:
        """Returns True when SQLite's integrity_check found nothing wrong."""
        return self.integrity == ["ok"]

    def table(self, name: str) -> TableRecovery | None:
        """Returns the recovery record of one table (None when the file held nothing to recover)."""
        return next((t for t in self.tables if t.table == name), None)


def diagnose(run_dir: Path, out: Path | None = None) -> Diagnosis:
    """Checks <run_dir>/meta.db; when it is damaged, writes what is readable to `out` (default
    <run_dir>/meta.recovered.db) and returns what was kept and what was lost. The original is not touched."""
    db_path = Path(run_dir) / "meta.db"
    out = Path(out) if out is not None else Path(run_dir) / "meta.recovered.db"
    with tempfile.TemporaryDirectory(prefix="kernelevolve_doctor_") as scratch:
        copy = Path(scratch) / "meta.db"
        shutil.copyfile(db_path, copy)
        if Path(f"{db_path}-wal").is_file():
            shutil.copyfile(f"{db_path}-wal", f"{copy}-wal")
        db = sqlite3.connect(copy, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            integrity = _integrity(db)
            if integrity == ["ok"]:
                return Diagnosis(db=db_path, integrity=integrity, missing_kernels=_missing_kernels(db))
            return _recover(db, db_path, integrity, out)
        finally:
            db.close()


def _integrity(db: sqlite3.Connection) -> list[str]:
    """Returns integrity_check's messages (["ok"] when healthy), or why the check itself could not run."""
    try:
        return [row[0] for row in db.execute("PRAGMA integrity_check(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [f"integrity_check could not run: {exc}"]


def _recover(db: sqlite3.Connection, db_path: Path, integrity: list[str], out: Path) -> Diagnosis:
    if out.exists():
        raise StoreError(f"{out} already exists; move it away or pass --out with a new path "
                         "(runs doctor never overwrites a file).")
    try:
        db.execute("PRAGMA writable_schema=ON")
        db.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as exc:  # the header or the schema page is gone: no table can be found
        return Diagnosis(db=db_path, integrity=[*integrity, f"nothing is readable: {exc}"])
    found = {table: _read_table(db, table) for table in TABLES}
    rows = {table: rows for table, (rows, _) in found.items()}
    rejected = _write_copy(out, rows)
    tables = [dataclasses.replace(record, rows=record.rows - rejected[table], garbled=rejected[table])
              for table, (_, record) in found.items()]
    copied = SqliteMetadataStore(out)
    try:
        kept_nodes = {row["id"] for row in copied.execute("SELECT id FROM nodes")}
    finally:
        copied.close()
    return Diagnosis(db=db_path, integrity=integrity, tables=tables, lost_node_ids=_lost_node_ids(rows, kept_nodes),
                     out=out)


def _read_table(db: sqlite3.Connection, table: str) -> tuple[list[dict[str, Any]], TableRecovery]:
    """Returns a table's readable rows (by rowid) and the record of what was lost."""
    rows: dict[int, dict[str, Any]] = {}
    try:
        for row in db.execute(f"SELECT rowid AS {ROWID}, * FROM {table}"):
            rows[row[ROWID]] = dict(row)
        return _ordered(rows), TableRecovery(table=table, rows=len(rows), lost_rowids=0, tail_unreadable=False)
    except sqlite3.DatabaseError as exc:
        scan_error = str(exc)
    columns = _columns(db, table)
    failed: list[int] = []
    nulled: set[str] = set()

    def read(rowid: int) -> bool:
        try:
            row = _read_row(db, table, rowid, columns, nulled)
        except sqlite3.DatabaseError:
            failed.append(rowid)
            return False
        if row is not None:
            rows[rowid] = row
        return row is not None

    known = _rowids(db, table)
    if known is not None:  # the rowids came from an index that survived: every failure is a lost row
        for rowid in sorted(known):
            read(rowid)
        lost, tail = len(failed), False
    else:
        rowid, misses, highest = 0, 0, max(rows, default=0)
        while misses < MAX_MISSES or rowid < highest:
            rowid += 1
            found = read(rowid)
            misses, highest = (0, max(highest, rowid)) if found else (misses + 1, highest)
        lost, tail = sum(r < highest for r in failed), any(r > highest for r in failed)
    record = TableRecovery(table=table, rows=len(rows), lost_rowids=lost, tail_unreadable=tail, error=scan_error,
                           nulled_columns=sorted(nulled))
    return _ordered(rows), record


def _rowids(db: sqlite3.Connection, table: str) -> set[int] | None:
    """Returns every rowid of a table when SQLite can list them (often from an index that survived the
    damage), else None: then rows are probed one rowid after another."""
    try:
        return {row[0] for row in db.execute(f"SELECT rowid FROM {table}")}
    except sqlite3.DatabaseError as exc:
        logger.info("doctor: rowids of %s not listable (%s); probing row by row", table, exc)
        return None


def _columns(db: sqlite3.Connection, table: str) -> dict[str, bool]:
    """Returns {column: may be stored as NULL} of a table of the damaged file (empty when unreadable)."""
    try:
        return {row[1]: not row[3] for row in db.execute(f"PRAGMA table_info({table})")}  # row[3]: NOT NULL
    except sqlite3.DatabaseError as exc:
        logger.warning("doctor: no column list for %s: %s", table, exc)
        return {}


def _read_row(db: sqlite3.Connection, table: str, rowid: int, columns: dict[str, bool],
              nulled: set[str]) -> dict[str, Any] | None:
    """Returns the row at `rowid` (None when absent); a row whose long values sit on lost overflow pages is
    read column by column, the unreadable nullable columns kept as NULL (and added to `nulled`).

    Raises sqlite3.DatabaseError when the row cannot be reached, or a NOT NULL column of it cannot be read.
    """
    if db.execute(f"SELECT rowid FROM {table} WHERE rowid = ?", (rowid,)).fetchone() is None:
        return None
    try:
        return dict(db.execute(f"SELECT rowid AS {ROWID}, * FROM {table} WHERE rowid = ?", (rowid,)).fetchone())
    except sqlite3.DatabaseError:
        if not columns:
            raise
    row: dict[str, Any] = {ROWID: rowid}
    lost = set()
    for column, nullable in columns.items():
        try:
            row[column] = db.execute(f"SELECT {column} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()[0]
        except sqlite3.DatabaseError:
            if not nullable:
                raise
            row[column] = None
            lost.add(column)
    nulled |= lost
    return row


def _ordered(rows: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in rows[r].items() if k != ROWID} for r in sorted(rows)]


def _write_copy(out: Path, tables: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Writes the rows into a fresh store at `out` (current schema; columns it lacks are dropped); returns, per
    table, how many rows were not copied because they break the schema (a NULL where a value is required, a
    duplicate key): what a damaged record reads as."""
    store = SqliteMetadataStore(out)
    rejected: dict[str, int] = {}
    try:
        with store.transaction() as db:
            for table, rows in tables.items():
                info = db.execute(f"PRAGMA table_info({table})").fetchall()
                columns = {row[1] for row in info}
                required = {row[1] for row in info if row[3] and row[4] is None}  # NOT NULL without a default
                rejected[table] = 0
                for row in rows:
                    kept = {k: v for k, v in row.items() if k in columns}
                    if any(kept.get(c) is None for c in required):
                        rejected[table] += 1
                        continue
                    cursor = db.execute(f"INSERT OR IGNORE INTO {table} ({', '.join(kept)}) "
                                        f"VALUES ({', '.join('?' * len(kept))})", tuple(kept.values()))
                    rejected[table] += cursor.rowcount == 0
    finally:
        store.close()
    return rejected


def _lost_node_ids(rows: dict[str, list[dict[str, Any]]], kept: set[int]) -> list[int]:
    """Returns node ids that other rows say existed but whose node row was not kept.

    Node ids run 0, 1, 2, ... and every evaluated node has one, so the run's `evaluated` counter (its
    progress) bounds the ids from below; expansion and evaluation rows name ids of their own.
    """
    evaluated = max([_evaluated(row) for row in rows["runs"]] or [0])
    named = ({row["child_id"] for row in rows["expansions"] if isinstance(row.get("child_id"), int)}
             | {row["node_id"] for row in rows["evaluations"] if isinstance(row.get("node_id"), int)}
             | kept | set(range(evaluated)))
    return sorted(set(range(max(named) + 1)) - kept) if named else []


def _evaluated(run: dict[str, Any]) -> int:
    try:
        return int(json.loads(run.get("progress_json") or "{}").get("evaluated", 0))
    except (ValueError, TypeError, AttributeError) as exc:  # a damaged progress_json: no lower bound from it
        logger.info("doctor: unreadable progress_json (%s)", exc)
        return 0


def _missing_kernels(db: sqlite3.Connection) -> list[int]:
    """Returns ids of nodes whose kernel source is a local file that no longer exists (s3 locators are skipped)."""
    rows = db.execute("SELECT id, kernel_path FROM nodes ORDER BY id").fetchall()
    return [row["id"] for row in rows
            if row["kernel_path"] and "://" not in row["kernel_path"] and not Path(row["kernel_path"]).is_file()]
