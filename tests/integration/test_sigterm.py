"""A SIGTERM (`timeout`, a scheduler's stop) ends a search as Ctrl-C does: the judge's worker and referee
processes (each in a session of its own) are killed before the launch exits, not left running a candidate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _processes_in(run_dir: Path) -> list[int]:
    """Returns the pids whose working directory is inside run_dir (the judge's workers and referees)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:  # gone, or not ours to read
            continue
        if cwd.is_relative_to(run_dir):
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_sigterm_stops_the_search_and_its_judge_processes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.Popen([sys.executable, "-m", "kernelevolve.launch", "+experiment=conv1d", "platform=cpu",
                             "search.max_steps=1000", "search.stall=0", "run.id=term", f"store.root={tmp_path}"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run_dir = tmp_path / "term"
    try:
        deadline = time.monotonic() + 240
        while not _processes_in(run_dir / "eval") and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_in(run_dir / "eval"), "no judge process started"
        os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "SIGTERM: stopping the search and its judge processes" in stderr
    assert _processes_in(run_dir) == []  # checked the moment the launch is gone: nothing was left to finish a job
