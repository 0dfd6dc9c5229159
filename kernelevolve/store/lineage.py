"""Lineage queries in recursive SQL: a node's ancestors, its subtree, and the path to the best node."""

from __future__ import annotations

import sqlite3

_ANCESTORS = """
WITH RECURSIVE up(id, parent_id, depth) AS (
    SELECT id, parent_id, 0 FROM nodes WHERE run_id = :run AND id = :node
    UNION ALL
    SELECT n.id, n.parent_id, up.depth + 1 FROM nodes n JOIN up ON n.id = up.parent_id WHERE n.run_id = :run
)
SELECT id FROM up WHERE depth > 0 ORDER BY depth
"""

_SUBTREE = """
WITH RECURSIVE down(id, depth) AS (
    SELECT id, 0 FROM nodes WHERE run_id = :run AND id = :node
    UNION ALL
    SELECT n.id, down.depth + 1 FROM nodes n JOIN down ON n.parent_id = down.id WHERE n.run_id = :run
)
SELECT id FROM down ORDER BY depth, id
"""

_BEST = "SELECT id FROM nodes WHERE run_id = ? AND is_buggy = 0 AND state = 'evaluated' ORDER BY score DESC, id LIMIT 1"


def ancestors(db: sqlite3.Connection, run_id: str, node_id: int) -> list[int]:
    """Returns the ids from the node's parent up to its root (empty for a root or an unknown node)."""
    return [r[0] for r in db.execute(_ANCESTORS, {"run": run_id, "node": node_id})]


def subtree(db: sqlite3.Connection, run_id: str, node_id: int) -> list[int]:
    """Returns the node and all its descendants, breadth first (by depth, then id)."""
    return [r[0] for r in db.execute(_SUBTREE, {"run": run_id, "node": node_id})]


def best_path(db: sqlite3.Connection, run_id: str) -> list[int]:
    """Returns the ids from a root down to the best correct node (lowest id on ties); empty if none."""
    row = db.execute(_BEST, (run_id,)).fetchone()
    if row is None:
        return []
    return [*reversed(ancestors(db, run_id, row[0])), row[0]]
