"""report/data.py: a read-only snapshot of a stored run that never disturbs the run writing it."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from kernelevolve.core.errors import StoreError
from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.report.data import load_run
from kernelevolve.store.archive import Archive
from tests.unit.report.run_store import BEST, SEED, make_run, node


def test_the_snapshot_holds_every_node_verdict_call_and_the_best_lineage(tmp_path):
    data = load_run(make_run(tmp_path))
    assert [n.id for n in data.nodes] == [0, 1, 2, 3, 4]
    assert [(v.node_id, v.status) for v in data.verdicts] == [(0, "ok"), (1, "ok"), (2, "crashed"), (3, "ok")]
    assert data.lineage == [0, 1, 3] and data.best.id == 3 and data.best.score == 3.0
    assert (data.best_source, data.seed_source) == (BEST, SEED)
    assert sorted({c.model for c in data.llm_calls}) == ["llm-a", "llm-b"] and len(data.llm_calls) == 4
    assert data.state == "finished" and data.stop_reason == "max_steps"
    assert data.dispatch is None, "not exported"


def test_reading_a_live_run_neither_blocks_nor_changes_its_writer(tmp_path):
    run_dir = make_run(tmp_path, finish=False)
    writer = Archive(run_dir, "r1", task="conv1d", platform="cuda")
    with writer.meta.transaction():  # the writer holds a write transaction while the report reads
        writer.meta.execute("UPDATE runs SET progress_json = '{\"evaluated\": 9}' WHERE id = 'r1'")
        data = load_run(run_dir)
    assert data.progress == {"evaluated": 4}, "the reader sees the last committed state"
    before = hashlib.sha256((run_dir / "meta.db").read_bytes()).hexdigest()
    load_run(run_dir)
    assert hashlib.sha256((run_dir / "meta.db").read_bytes()).hexdigest() == before
    writer.record_evaluation(node(4, 1), EvalResult(status=EvalStatus.TIMEOUT, reason="slow"), seq=4, progress={})
    assert [v.node_id for v in load_run(run_dir).verdicts][-1] == 4, "a rebuilt snapshot sees new verdicts"
    writer.close()


def test_the_snapshot_opens_the_db_read_only(tmp_path, monkeypatch):
    run_dir = make_run(tmp_path)
    calls = []
    real_connect = sqlite3.connect

    def spy(database, *args, **kwargs):
        calls.append((database, kwargs.get("uri")))
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", spy)
    load_run(run_dir)
    assert calls == [(f"file:{(run_dir / 'meta.db').resolve()}?mode=ro", True)]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        real_connect(calls[0][0], uri=True).execute("DELETE FROM nodes")


def test_a_directory_without_a_run_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="no meta.db"):
        load_run(tmp_path)
