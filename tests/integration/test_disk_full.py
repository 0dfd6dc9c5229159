"""The store on a small filesystem that fills up: the run stops with an error naming the full path, the
database stays readable (integrity_check), and once space is freed the run resumes to exactly what an
uninterrupted run stores. The filesystem is a 4 MiB tmpfs mounted in a private mount namespace (unshare),
so it needs root or unprivileged user namespaces; elsewhere the test is skipped."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.resume_driver import drive
from tests.integration.test_resume_kill import _query, _state

ROOT = Path(__file__).resolve().parents[2]
SEED, MAX_STEPS, SIZE_KB = 3, 30, 4096
# Runs inside the namespace: mount, fill all but $FREE KiB, run (fails), copy the run out, free, resume, copy.
SCRIPT = r"""
set -u
mount -t tmpfs -o size={size}k tmpfs "$MNT" || exit 90
dd if=/dev/zero of="$MNT/filler" bs=1k count=$(({size} - $FREE)) status=none
run() {{ "$PY" -m tests.integration.resume_driver "$MNT/run" --policy greedy --seed {seed} --max-steps {steps} "$@"; }}
run > "$OUT/first.log" 2>&1
echo $? > "$OUT/first.rc"
cp -a "$MNT/run" "$OUT/failed"
rm "$MNT/filler"
run --resume > "$OUT/resume.log" 2>&1
echo $? > "$OUT/resume.rc"
cp -a "$MNT/run" "$OUT/resumed"
"""


def _integrity(run_dir: Path) -> str:
    db = sqlite3.connect(f"file:{run_dir / 'meta.db'}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
@pytest.mark.parametrize("free_kb", [300, 800])  # out of space in the object store, or in SQLite first
def test_a_full_disk_stops_the_run_with_the_path_and_it_resumes_once_space_returns(tmp_path: Path, free_kb: int):
    out, mnt = tmp_path / "out", tmp_path / "mnt"
    out.mkdir()
    mnt.mkdir()
    script = SCRIPT.format(size=SIZE_KB, seed=SEED, steps=MAX_STEPS)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MNT": str(mnt), "OUT": str(out), "PY": sys.executable,
           "FREE": str(free_kb)}
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0 or not (out / "resume.rc").exists():
        pytest.skip(f"no private tmpfs here (unshare/mount refused): {done.returncode} {done.stderr[-300:]}")
    first = (out / "first.log").read_text()
    assert (out / "first.rc").read_text().strip() != "0", "the run went on although the disk was full"
    last = first.strip().splitlines()[-1]
    assert re.search(rf"StoreError: the disk holding {re.escape(str(mnt))}/run/\S+ is full", last), first[-2000:]
    assert _integrity(out / "failed") == "ok"
    stored = _query(out / "failed", "SELECT COUNT(*) FROM nodes")[0][0]
    assert 1 <= stored < MAX_STEPS
    assert (out / "resume.rc").read_text().strip() == "0", (out / "resume.log").read_text()[-3000:]
    assert _integrity(out / "resumed") == "ok"
    reference = tmp_path / "reference"
    drive(reference, policy="greedy", seed=SEED, max_steps=MAX_STEPS)
    got, want = _state(out / "resumed"), _state(reference)
    for table in want:
        assert got[table] == want[table], f"{table} differs after a full disk and a resume"
