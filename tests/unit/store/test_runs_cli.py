"""`kernelevolve runs list|show|export`: every readable run listed, damaged or locked stores named with the fix,
aligned columns, and one way to name a run (a bare id or a path) in every command."""

from __future__ import annotations

import os
import re
import sqlite3

from kernelevolve.store import sqlite as store_sqlite
from tests.unit.store.conftest import make_run, run_cli


def test_a_damaged_store_is_marked_and_every_other_run_is_still_listed(tmp_path, capsys):
    make_run(tmp_path, "a_first")
    bad = make_run(tmp_path, "b_damaged")
    make_run(tmp_path, "c_last")
    os.truncate(bad / "meta.db", 1000)  # inside the first page: not even the header survives
    code, out, _ = run_cli(["runs", "list", "--root", str(tmp_path)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["run", "a_first", "b_damaged", "c_last"]
    assert lines[2].endswith(f"unreadable: {bad / 'meta.db'} is damaged (database disk image is malformed); "
                             f"`kernelevolve runs doctor {bad}` checks it and copies what is still readable into "
                             "a new file, leaving the original as it is.")


def test_show_and_resume_name_the_doctor_for_a_damaged_store(tmp_path, capsys):
    bad = make_run(tmp_path, "r1")
    os.truncate(bad / "meta.db", 1000)
    code, out, err = run_cli(["runs", "show", "r1", "--root", str(tmp_path)], capsys)
    assert (code, out) == (2, "")
    assert err == (f"error: {bad / 'meta.db'} is damaged (database disk image is malformed); `kernelevolve runs "
                   f"doctor {bad}` checks it and copies what is still readable into a new file, leaving the "
                   "original as it is.\n")


def test_a_locked_store_says_who_holds_it_and_what_to_do(tmp_path, capsys, monkeypatch):
    run_dir = make_run(tmp_path, "r1")
    monkeypatch.setattr(store_sqlite, "BUSY_TIMEOUT_S", 0.05)
    holder = sqlite3.connect(run_dir / "meta.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = run_cli(["runs", "show", "r1", "--root", str(tmp_path)], capsys)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 2
    assert err == (f"error: {run_dir / 'meta.db'} is locked by another process (database is locked); a running "
                   "search writes to it: wait for it to finish or stop it, then retry.\n")


def test_long_task_names_keep_the_columns_aligned(tmp_path, capsys):
    make_run(tmp_path, "short", task="mbdt")
    make_run(tmp_path, "20261206-080403-a_task_with_a_very_long_name_indeed-cf5d",
             task="a_task_with_a_very_long_name_indeed")
    _, out, _ = run_cli(["runs", "list", "--root", str(tmp_path)], capsys)
    cells = [[(m.start(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", line)] for line in out.splitlines()]
    assert all(len(row) == 6 for row in cells), out
    for column, aligned in enumerate(("left", "left", "left", "right", "right", "left")):
        edges = {row[column][0 if aligned == "left" else 1] for row in cells}
        assert len(edges) == 1, f"column {column} is not {aligned}-aligned:\n{out}"


def test_a_run_with_no_node_is_listed_as_a_launch_that_failed(tmp_path, capsys):
    make_run(tmp_path, "empty", nodes=0)
    store = store_sqlite.SqliteMetadataStore(tmp_path / "empty" / "meta.db")
    store.execute("UPDATE runs SET status = 'interrupted', stop_reason = NULL")
    store.close()
    _, out, _ = run_cli(["runs", "list", "--root", str(tmp_path)], capsys)
    assert out.splitlines()[1].endswith("; no node was stored: its launch failed before the first one")


def test_every_command_takes_a_bare_id_or_a_run_directory(tmp_path, capsys):
    run_dir = make_run(tmp_path, "r1")
    for name in ("r1", str(run_dir)):
        code, out, _ = run_cli(["runs", "show", name, "--root", str(tmp_path)], capsys)
        assert code == 0 and out.startswith("run r1: task conv1d, platform cpu")
        code, out, _ = run_cli(["runs", "export", name, "--root", str(tmp_path), "--parquet",
                                str(tmp_path / "pq")], capsys)
        assert code == 0 and "nodes: " in out
        code, out, _ = run_cli(["runs", "doctor", name, "--root", str(tmp_path)], capsys)
        assert code == 0 and "ok (SQLite integrity_check found no damage)" in out


def test_an_unknown_run_id_names_where_it_looked_and_the_closest_id(tmp_path, capsys):
    make_run(tmp_path, "20261206-conv1d-ab12")
    for command in (["runs", "show"], ["runs", "export"], ["runs", "doctor"], ["export"]):
        extra = ["--parquet", str(tmp_path / "pq")] if command == ["runs", "export"] else []
        code, out, err = run_cli([*command, "20261206-conv1d-ab13", "--root", str(tmp_path), *extra], capsys)
        assert (code, out) == (2, "")
        assert err == (f"error: no run '20261206-conv1d-ab13': neither 20261206-conv1d-ab13/meta.db nor "
                       f"{tmp_path}/20261206-conv1d-ab13/meta.db exists (did you mean 20261206-conv1d-ab12?); "
                       f"list the runs with `kernelevolve runs list --root {tmp_path}`.\n")
