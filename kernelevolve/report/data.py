"""A read-only snapshot of one run, taken from its store: what the HTML report draws.

The metadata DB is opened read-only (`mode=ro`); in WAL mode a reader never blocks the run's writer,
so a report can be rebuilt while the search goes on (`kernelevolve report RUN --watch`). Every number
here is what the store holds; nothing is re-measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kernelevolve.core.errors import StoreError
from kernelevolve.core.types import ShapeTiming
from kernelevolve.store import lineage
from kernelevolve.store.config import store_config_from_dict
from kernelevolve.store.factory import build_object_store
from kernelevolve.store.liveness import liveness
from kernelevolve.store.protocols import ObjectStore

DISPATCH_JSON = "dispatch.json"  # written by export.py beside DISPATCH.md
CLUSTER_STATS = "cluster_stats.json"  # written by actors/driver.py at the end of a Ray run


@dataclasses.dataclass(frozen=True, kw_only=True)
class NodeView:
    """One node as stored. Times are epoch seconds; metrics are the verdict's named numbers."""

    id: int
    parent_id: int | None
    state: str
    status: str | None
    score: float
    note: str
    origin: str
    reason: str | None
    created_at: float
    evaluated_at: float | None
    metrics: dict[str, float]
    timings: list[ShapeTiming]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Verdict:
    """One evaluation, in arrival order (`seq`); fitness is 0 for a failed one."""

    node_id: int
    seq: int
    status: str
    fitness: float
    finished_at: float
    metrics: dict[str, float]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LLMCall:
    """One recorded LLM call; latency in seconds, cost in dollars."""

    model: str
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    cost_usd: float
    latency_s: float | None
    created_at: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunData:
    """Everything the report shows about one run, read at `read_at` (epoch seconds)."""

    run_id: str
    task: str
    platform: str
    created_at: float
    read_at: float
    state: str
    stop_reason: str | None
    config: dict[str, Any]
    progress: dict[str, Any]
    nodes: list[NodeView]
    verdicts: list[Verdict]
    expansions: list[dict[str, Any]]
    llm_calls: list[LLMCall]
    lineage: list[int]
    best_source: str | None
    seed_source: str | None
    dispatch: list[dict[str, Any]] | None
    cluster_stats: dict[str, Any] | None = None  # a Ray run's cluster_stats.json (fleet, evaluators), once finished

    @property
    def best(self) -> NodeView | None:
        """Returns the best correct node, or None when no candidate was correct."""
        by_id = {n.id: n for n in self.nodes}
        return by_id[self.lineage[-1]] if self.lineage else None

    @property
    def interpreter(self) -> bool:
        """Returns True for a cpu run, whose fitness ranks candidates and is no speedup."""
        return self.platform == "cpu"

    @property
    def last_event_at(self) -> float:
        """Returns the time of the last thing the store recorded (node, verdict, expansion, LLM call)."""
        times = [self.created_at, *(n.created_at for n in self.nodes), *(v.finished_at for v in self.verdicts),
                 *(c.created_at for c in self.llm_calls), *(e["finished_at"] or 0.0 for e in self.expansions)]
        return max(times)

    @property
    def wall_s(self) -> float:
        """Returns seconds from the run's start to its last recorded event."""
        return self.last_event_at - self.created_at


@contextlib.contextmanager
def _read_only(db_path: Path) -> Iterator[sqlite3.Connection]:
    if not db_path.is_file():
        raise StoreError(f"{db_path.parent} holds no run (no meta.db); give a run directory such as runs/<run-id>.")
    db = sqlite3.connect(f"file:{db_path.resolve()}?mode=ro", uri=True, timeout=10.0)
    db.row_factory = sqlite3.Row
    try:
        yield db
    finally:
        db.close()


def _rows(db: sqlite3.Connection, sql: str, run_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in db.execute(sql, (run_id,)).fetchall()]


def _node(row: dict[str, Any]) -> NodeView:
    return NodeView(id=row["id"], parent_id=row["parent_id"], state=row["state"], status=row["status"],
                    score=float(row["score"]), note=row["note"], origin=row["origin"], reason=row["reason"],
                    created_at=row["created_at"], evaluated_at=row["evaluated_at"],
                    metrics=json.loads(row["metrics_json"] or "{}"),
                    timings=[ShapeTiming(**t) for t in json.loads(row["timings_json"] or "[]")])


def _verdict(row: dict[str, Any]) -> Verdict:
    return Verdict(node_id=row["node_id"], seq=row["seq"], status=row["status"], fitness=float(row["fitness"]),
                   finished_at=row["finished_at"], metrics=json.loads(row["metrics_json"] or "{}"))


def _call(row: dict[str, Any]) -> LLMCall:
    return LLMCall(model=row["model"] or "unknown", tokens_in=row["tokens_in"], tokens_out=row["tokens_out"],
                   tokens_cached=row["tokens_cached"], cost_usd=float(row["cost_usd"]), latency_s=row["latency_s"],
                   created_at=row["created_at"])


def load_run(run_dir: Path, *, now: float | None = None) -> RunData:
    """Returns the snapshot of the run stored in `run_dir`; raises StoreError when there is none."""
    run_dir = Path(run_dir)
    with _read_only(run_dir / "meta.db") as db:
        runs = [dict(r) for r in db.execute("SELECT * FROM runs ORDER BY created_at").fetchall()]
        if not runs:
            raise StoreError(f"{run_dir}/meta.db holds no run")
        run = runs[0]
        rid = run["id"]
        nodes = _rows(db, "SELECT * FROM nodes WHERE run_id = ? ORDER BY id", rid)
        verdicts = _rows(db, "SELECT * FROM evaluations WHERE run_id = ? ORDER BY id", rid)
        expansions = _rows(db, "SELECT step, parent_id, status, child_id, started_at, finished_at FROM expansions"
                               " WHERE run_id = ? ORDER BY step", rid)
        calls = _rows(db, "SELECT * FROM llm_calls WHERE run_id = ? ORDER BY id", rid)
        best_path = lineage.best_path(db, rid)
    config = json.loads(run["config_json"])
    objects = build_object_store(store_config_from_dict(config.get("store", {})), run_dir, rid)
    read_at = time.time() if now is None else now
    return RunData(
        run_id=rid, task=run["task"], platform=run["platform"], created_at=run["created_at"], read_at=read_at,
        state=str(liveness(run, now=read_at)), stop_reason=run["stop_reason"], config=config,
        progress=json.loads(run["progress_json"] or "{}"), nodes=[_node(r) for r in nodes],
        verdicts=[_verdict(r) for r in verdicts], expansions=expansions, llm_calls=[_call(r) for r in calls],
        lineage=best_path, **_sources(objects, nodes, best_path), dispatch=_dispatch(run_dir),
        cluster_stats=_cluster_stats(objects))


def _sources(objects: ObjectStore, nodes: list[dict[str, Any]], best_path: list[int]) -> dict[str, Any]:
    """Returns the best kernel's source and its lineage root's (the seed it descends from)."""
    if not best_path:
        return {"best_source": None, "seed_source": None}
    paths = {row["id"]: row["kernel_path"] for row in nodes}
    return {"best_source": objects.get(paths[best_path[-1]]).decode(),
            "seed_source": objects.get(paths[best_path[0]]).decode()}


def _cluster_stats(objects: ObjectStore) -> dict[str, Any] | None:
    """Returns what a Ray run stored about its fleet at the end, or None (a local run, or still running)."""
    try:
        return json.loads(objects.get(CLUSTER_STATS))
    except StoreError:
        return None


def _dispatch(run_dir: Path) -> list[dict[str, Any]] | None:
    """Returns the export's dispatch choices, or None when the run was not exported (yet)."""
    path = run_dir / "export" / DISPATCH_JSON
    return json.loads(path.read_text())["choices"] if path.is_file() else None
