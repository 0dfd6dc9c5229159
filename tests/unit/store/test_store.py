"""The store: durable SQLite settings, atomic transactions, recursive lineage, CAS objects, Parquet, CLI."""

from __future__ import annotations

import argparse
import sqlite3

import pyarrow.parquet as pq
import pytest

from kernelevolve.core.errors import KernelEvolveError, StoreError
from kernelevolve.core.types import Candidate, EvalResult, EvalStatus, Node
from kernelevolve.store import commands
from kernelevolve.store.archive import Archive
from kernelevolve.store.objects_local import LocalObjectStore
from kernelevolve.store.protocols import ObjectStore
from kernelevolve.store.schema import EXCERPT_CHARS


def cli_main(argv: list[str]) -> int:
    """Runs a `runs` subcommand the way kernelevolve.cli does (exit 2 on a KernelEvolveError)."""
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KernelEvolveError:
        return 2


def _archive(tmp_path) -> Archive:
    archive = Archive(tmp_path / "r", "r", task="fake", platform="fake")
    archive.start(config={"a": 1}, versions={}, host="test")
    return archive


def _node(i: int, parent: int | None) -> Node:
    return Node(id=i, parent_id=parent, candidate=Candidate(source=f"x = {i}\n", parent_id=parent, origin="t"))


def _tree(tmp_path) -> Archive:
    """0 -> 1 -> 3, 0 -> 2; scores 1.0, 2.0, 0 (buggy), 3.0."""
    archive = _archive(tmp_path)
    archive.add_roots([_node(0, None)])
    for step, (i, parent) in enumerate([(1, 0), (2, 0), (3, 1)]):
        archive.begin_expansion(step=step, parent_id=parent, seed=step, inspirations=[])
        archive.finish_expansion(step=step, node=_node(i, parent), failure=None, progress={},
                                 llm_calls=[{"model": "m", "tokens_in": 3, "tokens_out": 2, "prompt": "p" * 5000}])
    results = [EvalResult(status=EvalStatus.OK, fitness=f) for f in (1.0, 2.0)]
    results += [EvalResult(status=EvalStatus.CRASHED, error="boom " * 2000), EvalResult(status=EvalStatus.OK, fitness=3.0)]
    for seq, result in enumerate(results):
        archive.record_evaluation(_node(seq, None), result, seq=seq, progress={"evaluated": seq + 1})
    return archive


def test_metadata_db_is_durable_wal():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        archive = _archive(Path(d))
        assert archive.meta.execute("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
        assert archive.meta.execute("PRAGMA synchronous")[0]["synchronous"] == 2  # FULL


def test_lineage_queries_use_the_stored_tree(tmp_path):
    archive = _tree(tmp_path)
    assert archive.meta.ancestors("r", 3) == [1, 0]
    assert archive.meta.subtree("r", 0) == [0, 1, 2, 3]
    assert archive.meta.subtree("r", 1) == [1, 3]
    assert archive.meta.best_path("r") == [0, 1, 3]
    assert archive.meta.ancestors("r", 99) == []


def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    archive = _tree(tmp_path)
    archive.begin_expansion(step=9, parent_id=0, seed=1, inspirations=[])
    with pytest.raises(StoreError):  # node id 1 exists: the insert fails, the whole event rolls back
        archive.finish_expansion(step=9, node=_node(1, 0), failure=None, llm_calls=[{"tokens_in": 1}], progress={})
    assert archive.open_expansions()[0]["step"] == 9
    assert len(archive.meta.llm_calls("r")) == 3


def test_large_text_goes_to_objects_and_rows_keep_an_excerpt(tmp_path):
    archive = _tree(tmp_path)
    row = archive.meta.nodes("r")[2]
    assert len(row["error"]) < EXCERPT_CHARS + 200 and "trimmed" in row["error"]
    restored = {n.id: n for n, _, _ in archive.load_nodes()}
    assert restored[2].result.error == "boom " * 2000, "the full log comes back from the object store"
    call = archive.meta.llm_calls("r")[0]
    assert call["tokens_in"] == 3 and call["model"] == "m" and len(call["prompt_excerpt"]) <= 5000
    assert archive.objects.get(call["prompt_path"]).decode() == "p" * 5000


def test_record_llm_calls_stores_every_field(tmp_path):
    archive = _archive(tmp_path)
    archive.record_llm_calls(None, [{"model": "gpt", "prompt": "hi", "response": "yo", "tokens_in": 7,
                                     "tokens_out": 9, "tokens_cached": 4, "cost_usd": 0.25, "latency_s": 1.5,
                                     "attempts": 3, "error": None},
                                    {"model": "gpt", "prompt": "hi", "response": None, "attempts": None,
                                     "error": "RetryableLLMError: HTTP 503"}])
    row, failed = archive.meta.llm_calls("r")
    assert (row["model"], row["tokens_in"], row["tokens_out"], row["tokens_cached"]) == ("gpt", 7, 9, 4)
    assert (row["cost_usd"], row["latency_s"], row["response_excerpt"]) == (0.25, 1.5, "yo")
    assert (row["attempts"], row["error"]) == (3, None), "a retried call keeps its attempt count"
    assert (failed["attempts"], failed["error"]) == (None, "RetryableLLMError: HTTP 503")


def test_object_store_is_content_addressed(tmp_path):
    store = LocalObjectStore(tmp_path / "o")
    assert isinstance(store, ObjectStore)
    a = store.put("kernel_1.py", b"same")
    b = store.put("kernel_2.py", b"same")
    assert store.get(a) == store.get(b) == store.get("kernel_2.py") == b"same"
    assert len(list((tmp_path / "o" / ".cas").rglob("*"))) == 2, "one directory and one blob"
    store.put("kernel_1.py", b"changed")
    assert store.get(a) == b"changed" and store.get(b) == b"same"
    with pytest.raises(StoreError, match="escapes"):
        store.put("../evil", b"x")
    with pytest.raises(StoreError, match="missing"):
        store.get("nope.txt")


def test_parquet_export_and_runs_commands(tmp_path, capsys):
    _tree(tmp_path).close()
    assert cli_main(["runs", "export", "r", "--root", str(tmp_path), "--parquet", str(tmp_path / "pq")]) == 0
    nodes = pq.read_table(tmp_path / "pq" / "nodes.parquet")
    assert nodes.num_rows == 4 and sorted(nodes.column("id").to_pylist()) == [0, 1, 2, 3]
    assert pq.read_table(tmp_path / "pq" / "evaluations.parquet").num_rows == 4
    assert pq.read_table(tmp_path / "pq" / "llm_calls.parquet").column("tokens_in").to_pylist() == [3, 3, 3]
    assert cli_main(["runs", "list", "--root", str(tmp_path)]) == 0
    assert cli_main(["runs", "show", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "best path: 0 -> 1 -> 3" in out and "fake" in out
    assert cli_main(["runs", "show", "missing", "--root", str(tmp_path)]) == 2


def test_a_broken_db_path_is_a_store_error(tmp_path):
    (tmp_path / "meta.db").mkdir()
    with pytest.raises(StoreError, match="cannot open") as caught:
        Archive(tmp_path, "x", task="t", platform="p")
    assert str(tmp_path / "meta.db") in str(caught.value)  # names the path the user must fix
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)  # sqlite's own error kept as the cause


def test_trailing_expansion_failures_skip_dropped_duplicates_as_the_live_count_does(tmp_path):
    from kernelevolve.core.types import DUPLICATE_PREFIX

    archive = _archive(tmp_path)
    archive.add_roots([_node(0, None)])
    outcomes = [_node(1, 0), "llm said no", f"{DUPLICATE_PREFIX} seen", "parse error", f"{DUPLICATE_PREFIX} again"]
    for step, outcome in enumerate(outcomes):
        archive.begin_expansion(step=step, parent_id=0, seed=step, inspirations=[])
        node, failure = (outcome, None) if isinstance(outcome, Node) else (None, outcome)
        archive.finish_expansion(step=step, node=node, failure=failure, progress={}, llm_calls=[])
    assert archive.trailing_expansion_failures() == 2  # "parse error" and "llm said no", back to node 1
