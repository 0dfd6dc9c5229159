"""kill -9 at arbitrary moments, then resume: no node lost, none evaluated twice, and the final graph
equals an uninterrupted run's with the same seed (concurrency=1, deterministic fake operator/judge)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.resume_driver import drive

ROOT = Path(__file__).resolve().parents[2]
MAX_STEPS = 24
SEED = 5
NODE_COLUMNS = "id, parent_id, step, source_sha256, state, status, score, is_buggy, eval_seq, origin, note"


def _start(run_dir: Path, policy: str, log: Path, *, resume: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tests.integration.resume_driver", str(run_dir), "--policy", policy,
           "--seed", str(SEED), "--max-steps", str(MAX_STEPS), "--delay", "0.01", "--judge-log", str(log)]
    return subprocess.Popen([*cmd, *(["--resume"] if resume else [])], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _query(run_dir: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(f"file:{run_dir / 'meta.db'}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _evaluated(run_dir: Path) -> set[int]:
    if not (run_dir / "meta.db").is_file():
        return set()
    try:
        return {r[0] for r in _query(run_dir, "SELECT id FROM nodes WHERE state = 'evaluated'")}
    except sqlite3.OperationalError:  # the schema is not there yet
        return set()


def _kill_when(proc: subprocess.Popen, run_dir: Path, evaluated: int, extra_s: float) -> None:
    deadline = time.monotonic() + 60
    while len(_evaluated(run_dir)) < evaluated and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(extra_s)  # land in the middle of an expansion or an evaluation
    assert proc.poll() is None, f"the run finished before the kill: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _state(run_dir: Path) -> dict[str, list[tuple]]:
    return {
        "nodes": _query(run_dir, f"SELECT {NODE_COLUMNS} FROM nodes ORDER BY id"),
        "expansions": _query(run_dir, "SELECT step, parent_id, seed, inspirations_json, status, child_id"
                                      " FROM expansions ORDER BY step"),
        "evaluations": _query(run_dir, "SELECT node_id, seq, status, fitness FROM evaluations ORDER BY seq"),
        "llm_calls": _query(run_dir, "SELECT node_id, step, tokens_in, tokens_out FROM llm_calls ORDER BY step"),
        "progress": _query(run_dir, "SELECT json_extract(progress_json, '$.evaluated'),"
                                    " json_extract(progress_json, '$.tokens'), json_extract(progress_json, '$.best_fitness'),"
                                    " json_extract(progress_json, '$.since_improvement'), stop_reason FROM runs"),
    }


def _in_flight(run_dir: Path) -> int:
    expanding = _query(run_dir, "SELECT COUNT(*) FROM expansions WHERE status = 'in_flight'")[0][0]
    pending = _query(run_dir, "SELECT COUNT(*) FROM nodes WHERE state = 'pending'")[0][0]
    return expanding + pending


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["greedy", "mcts", "evolutionary"])
def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path, policy):
    reference = tmp_path / "reference"
    drive(reference, policy=policy, seed=SEED, max_steps=MAX_STEPS)
    victim = tmp_path / "victim"
    kills = [(4, 0.003), (11, 0.013), (18, 0.0), None]  # (evaluations before the kill, extra delay); None: finish
    cut_mid_flight = 0
    for round_, kill in enumerate(kills):
        done_before = _evaluated(victim)
        log = tmp_path / f"judge_{round_}.log"
        proc = _start(victim, policy, log, resume=round_ > 0)
        if kill is None:
            assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()[-3000:]
        else:
            _kill_when(proc, victim, *kill)
            cut_mid_flight += _in_flight(victim) > 0
        again = {int(x) for x in log.read_text().split()} if log.is_file() else set()
        assert not again & done_before, f"round {round_} re-evaluated committed nodes {sorted(again & done_before)}"
    assert cut_mid_flight >= 2, "the kills should land while work is in flight"
    got, want = _state(victim), _state(reference)
    counts = _query(victim, "SELECT node_id, COUNT(*) FROM evaluations GROUP BY node_id HAVING COUNT(*) > 1")
    assert counts == [], "a node has two recorded evaluations"
    assert len(got["nodes"]) == len(want["nodes"]) and all(r[4] == "evaluated" for r in got["nodes"])
    for table in want:
        assert got[table] == want[table], f"{table} differs after kill -9 and resume"
