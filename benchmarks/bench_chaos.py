"""Chaos: kill -9 the search driver at random points, resume, and count what was lost or done twice.

    python benchmarks/bench_chaos.py --trials 20 --policies greedy mcts evolutionary [--json out.json]

Each trial runs the fake-operator/fake-judge search (tests/integration/resume_driver.py, cluster=local,
concurrency 1, every expansion and evaluation 10 ms) on a fresh run directory, kills it with SIGKILL 1-3
times at points drawn from the trial's seed (after k evaluations plus 0-20 ms, so kills land mid-expansion
or mid-evaluation), resumes it each time, and lets the last resume finish. Then it compares the run with
an uninterrupted one of the same search seed:
- lost: nodes of the uninterrupted run missing from the resumed one, or left unevaluated;
- duplicated: nodes with more than one recorded evaluation, plus nodes the judge finished again after
  their verdict was committed before a kill (the judge's own fsynced log says which);
- diverged: tables (nodes, expansions, evaluations, LLM calls, progress) that differ from the uninterrupted run.
The trial seeds are 0..trials-1 (fixed), so a run reproduces its kill points.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.resume_driver import drive  # noqa: E402 - the repo root is put on sys.path above
from tests.integration.test_resume_kill import _evaluated, _query, _state  # noqa: E402

MAX_STEPS, SEARCH_SEED, DELAY_S = 24, 5, 0.01


def _start(run_dir: Path, policy: str, log: Path, *, resume: bool) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tests.integration.resume_driver", str(run_dir), "--policy", policy, "--seed",
           str(SEARCH_SEED), "--max-steps", str(MAX_STEPS), "--delay", str(DELAY_S), "--judge-log", str(log)]
    return subprocess.Popen([*cmd, *(["--resume"] if resume else [])], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _kill_after(proc: subprocess.Popen[bytes], run_dir: Path, evaluations: int, extra_s: float) -> bool:
    """Kills proc once `evaluations` nodes are stored plus extra_s; returns False when it finished first."""
    deadline = time.monotonic() + 60
    while len(_evaluated(run_dir)) < evaluations and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(extra_s)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def trial(policy: str, seed: int, reference: dict[str, list[tuple]], work: Path) -> dict[str, int]:
    """Runs one killed-and-resumed search; returns its counts (kills, lost, duplicated, diverged)."""
    rng = np.random.default_rng(seed)
    run_dir = work / f"{policy}_{seed}"
    points = sorted(int(k) for k in rng.choice(np.arange(1, MAX_STEPS - 1), size=int(rng.integers(1, 4)),
                                               replace=False))
    kills, again = 0, 0
    for round_, point in enumerate([*points, None]):
        committed = _evaluated(run_dir)
        log = work / f"{policy}_{seed}_{round_}.log"
        proc = _start(run_dir, policy, log, resume=round_ > 0)
        if point is None:
            proc.wait(timeout=300)
        else:
            kills += _kill_after(proc, run_dir, point, float(rng.uniform(0.0, 0.02)))
        finished = {int(x) for x in log.read_text().split()} if log.is_file() else set()
        again += len(finished & committed)
    got = _state(run_dir)
    want_ids = {row[0] for row in reference["nodes"]}
    have = {row[0]: row[4] for row in got["nodes"]}
    lost = sum(1 for i in want_ids if have.get(i) != "evaluated")
    doubles = _query(run_dir, "SELECT COUNT(*) FROM (SELECT node_id FROM evaluations GROUP BY node_id "
                              "HAVING COUNT(*) > 1)")[0][0]
    diverged = sum(got[table] != reference[table] for table in reference)
    return {"kills": kills, "lost": lost, "duplicated": doubles + again, "diverged": diverged}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--policies", nargs="+", default=["greedy", "mcts", "evolutionary"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="chaos_") as tmp:
        work = Path(tmp)
        for policy in args.policies:
            drive(work / f"reference_{policy}", policy=policy, seed=SEARCH_SEED, max_steps=MAX_STEPS)
            reference = _state(work / f"reference_{policy}")
            started = time.monotonic()
            counts = [trial(policy, seed, reference, work) for seed in range(args.trials)]
            row = {"actor": "driver", "policy": policy, "trials": args.trials,
                   **{k: sum(c[k] for c in counts) for k in ("kills", "lost", "duplicated", "diverged")},
                   "seconds": round(time.monotonic() - started, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)  # noqa: T201 - a benchmark's report
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if all(r["lost"] == r["duplicated"] == r["diverged"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
