"""Run liveness: a killed run reads `stopped`, a live one `running`, an ended one `finished`; old DBs migrate."""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kernelevolve.config import Config
from kernelevolve.store import commands
from kernelevolve.store.archive import Archive
from kernelevolve.store.liveness import Heartbeat, RunState, liveness, this_host
from kernelevolve.store.schema import SCHEMA
from kernelevolve.store.sqlite import SqliteMetadataStore
from tests.fakes import FakeOperator

ROOT = Path(__file__).resolve().parents[3]
FAR = 10**6  # a staleness threshold no test reaches: only the owner's pid can make the run stopped

# A process that owns run `r` under root argv[1] and beats every 10 ms until it is killed.
OWNER = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from kernelevolve.store.archive import Archive
    from kernelevolve.store.liveness import Heartbeat
    archive = Archive(Path(sys.argv[1]) / "r", "r", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="h")
    with Heartbeat(archive.meta, "r", interval_s=0.01):
        print("ready", flush=True)
        threading.Event().wait()
""")


def _list(root: Path, capsys, stale_after: float = FAR) -> str:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["runs", "list", "--root", str(root), "--stale-after", str(stale_after)])
    capsys.readouterr()
    assert args.func(args) == 0
    return capsys.readouterr().out


def _row(root: Path) -> dict:
    meta = SqliteMetadataStore(root / "r" / "meta.db")
    try:
        return meta.get_run("r")
    finally:
        meta.close()


def _wait_for_beats(root: Path, n: int) -> None:
    """Returns once the heartbeat has advanced n times (polls read-only; no time bound is asserted)."""
    db = sqlite3.connect(f"file:{root / 'r' / 'meta.db'}?mode=ro", uri=True, timeout=10)
    try:
        seen: set[float] = set()
        while len(seen) <= n:
            seen.add(db.execute("SELECT heartbeat_at FROM runs WHERE id = 'r'").fetchone()[0])
            time.sleep(0.002)
    finally:
        db.close()


def test_a_run_killed_with_sigkill_reads_stopped_with_how_to_resume(tmp_path, capsys):
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert owner.stdout.readline() == b"ready\n"
        _wait_for_beats(tmp_path, 2)
        row = _row(tmp_path)
        assert (row["owner_pid"], row["owner_host"], row["status"]) == (owner.pid, this_host(), "running")
        assert _list(tmp_path, capsys).rstrip().endswith("  running")
    finally:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
    out = _list(tmp_path, capsys)
    assert f"stopped (owner pid {owner.pid} is gone" in out
    assert f"resume with `python -m kernelevolve.launch run.resume=r store.root={tmp_path}`" in out
    assert _row(tmp_path)["status"] == "running", "the row itself is not rewritten by a reader"


def test_a_stale_heartbeat_is_stopped_even_where_the_pid_cannot_be_checked(tmp_path):
    run = {"id": "r", "status": "running", "owner_pid": 1, "owner_host": "elsewhere", "heartbeat_at": 1000.0}
    assert liveness(run, now=1059.0, stale_after_s=60).state is RunState.running
    stale = liveness(run, now=1061.4, stale_after_s=60)
    assert stale.state is RunState.stopped
    assert str(stale).startswith("stopped (no heartbeat for 61 s; resume with `python -m kernelevolve.launch run.resume=r`")
    # same host, pid alive (maybe reused by another program): the stale heartbeat still decides
    here = dict(run, owner_host="me")
    assert liveness(here, now=1061.4, stale_after_s=60, host="me", alive=lambda pid: True).state is RunState.stopped
    assert liveness(here, now=1001.0, stale_after_s=60, host="me", alive=lambda pid: False).state is RunState.stopped
    assert liveness(here, now=1001.0, stale_after_s=60, host="me", alive=lambda pid: True).state is RunState.running


@pytest.mark.parametrize(("status", "heartbeat", "expected"), [
    ("finished", None, "finished"),
    ("finished", 0.0, "finished"),
    ("interrupted", 1000.0, "stopped (interrupted; resume with"),
    ("running", None, "unknown (no heartbeat recorded"),
])
def test_row_status_and_heartbeat_give_the_shown_state(status, heartbeat, expected):
    run = {"id": "r", "status": status, "owner_pid": None, "owner_host": None, "heartbeat_at": heartbeat}
    assert str(liveness(run, now=1e9, stale_after_s=60)).startswith(expected)


def test_heartbeat_claims_the_run_and_beats_with_the_injected_clock(tmp_path):
    archive = Archive(tmp_path / "r", "r", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="h")
    ticks = iter(range(100, 10**6))
    with Heartbeat(archive.meta, "r", interval_s=0.005, clock=lambda: float(next(ticks))):
        _wait_for_beats(tmp_path, 3)
    row = archive.meta.get_run("r")
    assert (row["owner_pid"], row["owner_host"]) == (os.getpid(), this_host())
    assert row["heartbeat_at"] >= 103.0 and float(row["heartbeat_at"]).is_integer()
    archive.meta.mark_running("r")  # a resume: nobody owns it until its heartbeat claims it
    row = archive.meta.get_run("r")
    assert (row["owner_pid"], row["owner_host"], row["heartbeat_at"]) == (None, None, None)
    archive.close()


def test_a_run_db_written_before_heartbeats_opens_and_reads_unknown(tmp_path):
    (tmp_path / "old").mkdir()
    db = sqlite3.connect(tmp_path / "old" / "meta.db")
    db.executescript(SCHEMA)  # the version-2 tables: runs without owner or heartbeat columns
    db.execute("INSERT INTO runs (id, created_at, task, platform, config_json, versions_json, host, status)"
               " VALUES ('old', 1.0, 't', 'cpu', '{}', '{}', 'h', 'running')")
    db.commit()
    db.execute("PRAGMA user_version=2")
    db.close()
    meta = SqliteMetadataStore(tmp_path / "old" / "meta.db")
    row = meta.get_run("old")
    assert row["heartbeat_at"] is None and row["config_json"] == "{}"
    assert liveness(row, now=1e9).state is RunState.unknown
    meta.claim_run("old", pid=1, host="h", at=5.0)
    assert meta.get_run("old")["heartbeat_at"] == 5.0
    meta.close()


def test_run_search_holds_a_heartbeat_while_the_controller_runs(tmp_path):
    from kernelevolve.runner import Run, run_search
    from kernelevolve.tasks import load_task

    archive = Archive(tmp_path / "r", "r", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="h")
    seen: list[tuple] = []

    class OwnerCheckingJudge:
        def evaluate(self, source: str, *, candidate_id: str):
            from tests.fakes import FakeJudge

            row = archive.meta.get_run("r")
            seen.append((row["owner_pid"], row["heartbeat_at"] is not None))
            return FakeJudge().evaluate(source, candidate_id=candidate_id)

    config = Config()
    config = Config(search=type(config.search)(max_steps=2), store=type(config.store)(root=str(tmp_path)))
    run = Run(config=config, run_id="r", run_dir=tmp_path / "r", task=load_task("conv1d"), platform="cpu",
              archive=archive, operator=FakeOperator(), resumed=False)
    run_search(run, OwnerCheckingJudge())
    assert seen and set(seen) == {(os.getpid(), True)}
    assert liveness(archive.meta.get_run("r"), now=1e12).state is RunState.finished
    archive.close()
