"""`kernelevolve runs doctor RUN`: integrity_check, what a damaged store lost, a recovered copy, the original kept."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from kernelevolve.store.sqlite import open_run
from tests.unit.store.conftest import make_run, run_cli


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_healthy_store_passes_and_nothing_is_written(tmp_path, capsys):
    run_dir = make_run(tmp_path, "r1")
    code, out, _ = run_cli(["runs", "doctor", "r1", "--root", str(tmp_path)], capsys)
    assert code == 0
    assert out.strip() == f"{run_dir / 'meta.db'}: ok (SQLite integrity_check found no damage)"
    assert not (run_dir / "meta.recovered.db").exists()


def _damaged_run(root: Path, run_id: str = "r1") -> Path:
    """A run of 100 nodes (~460 KB of rows over many pages) whose meta.db lost its last 40%."""
    run_dir = make_run(root, run_id, nodes=100, note_chars=2000)
    os.truncate(run_dir / "meta.db", int((run_dir / "meta.db").stat().st_size * 0.6))
    return run_dir


def _lost_ids(out: str) -> set[int]:
    line = next(line for line in out.splitlines() if line.startswith("node ids lost: "))
    ids: set[int] = set()
    for span in line.removeprefix("node ids lost: ").split(" (")[0].split(", "):
        first, _, last = span.partition("-")
        ids |= set(range(int(first), int(last or first) + 1))
    return ids


def test_a_truncated_store_is_recovered_into_a_copy_and_the_original_is_untouched(tmp_path, capsys):
    run_dir = _damaged_run(tmp_path)
    db = run_dir / "meta.db"
    before = _digest(db)
    code, out, _ = run_cli(["runs", "doctor", str(run_dir)], capsys)
    assert code == 1
    assert out.startswith(f"{db}: damaged — integrity_check could not run: database disk image is malformed\n")
    assert f"recovered what was readable into {run_dir / 'meta.recovered.db'} (the original is unchanged):" in out
    assert "  runs              1 row kept\n" in out
    assert out.rstrip().endswith(f"then rename {run_dir / 'meta.recovered.db'} to {db}.")
    assert _digest(db) == before and sorted(p.name for p in run_dir.iterdir()) == [
        "meta.db", "meta.recovered.db", "objects"], "the original is neither changed nor given a WAL"


def test_the_copy_holds_every_node_the_report_does_not_call_lost(tmp_path, capsys):
    run_dir = _damaged_run(tmp_path)
    out_path = tmp_path / "copy" / "meta.db"
    out_path.parent.mkdir()
    code, out, _ = run_cli(["runs", "doctor", "r1", "--root", str(tmp_path), "--out", str(out_path)], capsys)
    kept = int(next(line for line in out.splitlines() if line.startswith("  nodes")).split()[1])
    meta, run = open_run(out_path.parent)
    try:
        ids = {row["id"] for row in meta.nodes("r1")}
    finally:
        meta.close()
    assert run["id"] == "r1" and len(ids) == kept and 0 < kept < 100
    assert ids | _lost_ids(out) == set(range(100)) and not ids & _lost_ids(out)
    code, out, _ = run_cli(["runs", "show", str(out_path.parent)], capsys)
    assert code == 0 and out.startswith("run r1: task conv1d")
    assert run_dir.is_dir()


def test_doctor_never_overwrites_an_earlier_copy(tmp_path, capsys):
    run_dir = _damaged_run(tmp_path)
    (run_dir / "meta.recovered.db").write_text("an earlier copy")
    code, _, err = run_cli(["runs", "doctor", "r1", "--root", str(tmp_path)], capsys)
    assert code == 2
    assert err.strip() == (f"error: {run_dir / 'meta.recovered.db'} already exists; move it away or pass --out "
                           "with a new path (runs doctor never overwrites a file).")
    assert (run_dir / "meta.recovered.db").read_text() == "an earlier copy"


def test_a_file_that_is_not_a_database_says_nothing_could_be_recovered(tmp_path, capsys):
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    (run_dir / "meta.db").write_bytes(b"not a database at all" * 300)
    code, out, _ = run_cli(["runs", "doctor", "r1", "--root", str(tmp_path)], capsys)
    assert code == 1
    assert out.splitlines() == [
        f"{run_dir / 'meta.db'}: damaged — integrity_check could not run: file is not a database; "
        "nothing is readable: file is not a database",
        "nothing could be recovered; the run's kernels are still under objects/ if it had any."]
