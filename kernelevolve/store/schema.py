"""The metadata schema: runs, nodes, expansions, evaluations and LLM calls (one SQLite file per run dir).

Large text (logs, prompts, responses) lives in the object store; rows keep a trimmed excerpt and the
object's locator. `expansions` holds one row per expansion step, written before the operator is
called, so a resumed run re-issues exactly the requests that were in flight when it died.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 4
EXCERPT_CHARS = 2000  # text kept in a row; the whole text is in the object store

SCHEMA = """
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
    step INTEGER, eval_seq INTEGER, source_sha256 TEXT,
    kernel_path TEXT, overview_path TEXT, log_path TEXT, created_at REAL NOT NULL, evaluated_at REAL,
    PRIMARY KEY (run_id, id)
);
CREATE INDEX IF NOT EXISTS nodes_parent ON nodes(run_id, parent_id);
CREATE INDEX IF NOT EXISTS nodes_score ON nodes(run_id, score);
CREATE TABLE IF NOT EXISTS expansions (
    run_id TEXT NOT NULL REFERENCES runs(id), step INTEGER NOT NULL, parent_id INTEGER NOT NULL,
    seed INTEGER NOT NULL, inspirations_json TEXT NOT NULL, status TEXT NOT NULL,
    child_id INTEGER, failure TEXT, started_at REAL NOT NULL, finished_at REAL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(id), node_id INTEGER NOT NULL,
    seq INTEGER NOT NULL, status TEXT NOT NULL, fitness REAL NOT NULL, is_buggy INTEGER NOT NULL,
    reason TEXT, platform TEXT, timings_json TEXT, metrics_json TEXT, error TEXT, log_path TEXT,
    finished_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_node ON evaluations(run_id, node_id);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(id), node_id INTEGER,
    step INTEGER, model TEXT, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    tokens_cached INTEGER NOT NULL, cost_usd REAL NOT NULL, latency_s REAL,
    prompt_excerpt TEXT, response_excerpt TEXT, prompt_path TEXT, response_path TEXT, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_calls_node ON llm_calls(run_id, node_id);
"""


# Columns added after a table was first released, as (table, column, SQL type): `migrate` adds the missing
# ones to an older run DB, so it stays readable (and resumable) by this version. Version 3: run liveness,
# the process that owns a running run and its last heartbeat (store/liveness.py). Version 4: an LLM call's
# HTTP attempts (more than 1: it was retried, e.g. after a model replica died) and, for a call that got no
# answer, its error.
ADDED_COLUMNS = (
    ("runs", "owner_pid", "INTEGER"),
    ("runs", "owner_host", "TEXT"),
    ("runs", "heartbeat_at", "REAL"),
    ("llm_calls", "attempts", "INTEGER"),
    ("llm_calls", "error", "TEXT"),
)


def migrate(db: sqlite3.Connection) -> None:
    """Adds every column of ADDED_COLUMNS that the DB's tables lack (idempotent)."""
    for table, column, sql_type in ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str | None:
    """Returns the text trimmed to `limit` chars (head and tail kept: errors sit at the end), or None."""
    if not text:
        return None
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - limit} chars trimmed; full text in the object store] ...\n{text[-half:]}"
