"""Parquet export of a run's tables (nodes, evaluations, llm_calls, expansions) for analysis."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kernelevolve.store.sqlite import SqliteMetadataStore

EXPORTED_TABLES = ("nodes", "evaluations", "llm_calls", "expansions")


def export_parquet(meta: SqliteMetadataStore, run_id: str, out_dir: Path) -> dict[str, Path]:
    """Writes <out_dir>/<table>.parquet for each exported table (columns kept even when empty);
    returns table -> path. Raises StoreError for an unknown run."""
    meta.get_run(run_id)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for table in EXPORTED_TABLES:
        columns = [c["name"] for c in meta.execute(f"PRAGMA table_info({table})")]
        rows = meta.execute(f"SELECT * FROM {table} WHERE run_id = ? ORDER BY rowid", (run_id,))
        arrow = pa.table({c: pa.array([r[c] for r in rows]) for c in columns})
        path = out_dir / f"{table}.parquet"
        pq.write_table(arrow, path)
        written[table] = path
    return written
