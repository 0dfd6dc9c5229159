"""Chaos on cluster=ray: kill -9 (ray.kill) one actor of a kind mid-run, resume when the run died, count
what was lost or done twice.

    python benchmarks/bench_chaos_ray.py --trials 20 --kinds evaluator expander archive controller [--json f]

Each trial is one search (fake operator and judge, each call 50 ms, 24 candidates, 6 in flight, 2
evaluators, 2 expanders) on one local Ray instance with 2 faked GPUs. A thread waits until the trial's
seed-drawn number of candidates is judged (plus 0-50 ms) and kills the named actor: an evaluator or an
expander (Ray restarts it), the archive actor (Ray restarts it; it reopens the store), or the controller
(the run dies; it is resumed from the store as `run.resume` would). Counts per kind:
- lost: candidates missing from the store or not evaluated at the end (ids must be dense 0..n-1);
- duplicated: candidates stored twice (the same source under two ids) or with more than one evaluation row;
- rejudged: candidates judged to completion more than once (the fake judge leaves a marker file per finished
  judgement): at-least-once work, e.g. a verdict the killed actor had not yet committed; not a store duplicate;
- failed: trials whose run raised something other than the controller's death (the error is printed).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ray  # noqa: E402

from actors.driver import run_with_ray  # noqa: E402
from kernelevolve.runner import Run  # noqa: E402
from kernelevolve.store.archive import Archive  # noqa: E402
from tests.ray.conftest import WORKER_ENV, make_run  # noqa: E402
from tests.ray.fakes_ray import MarkingJudge, MarkingOperator, marks  # noqa: E402

STEPS, IN_FLIGHT, DELAY_S = 24, 6, 0.05
ACTOR = {"evaluator": "evaluator-{i}@r1", "expander": "expander-{i}@r1", "archive": "archive@r1",
         "controller": "controller@r1"}
CLUSTER = {"evaluators": 2, "expanders": 2, "eval_batch": 1, "cpus_per_evaluator": 0.5, "cpus_per_expander": 0.25,
           "restart_timeout_s": 30.0}


def _killer(kind: str, seed: int, markers: Path, killed: list[str]) -> None:
    rng = np.random.default_rng(seed)
    after, extra = int(rng.integers(2, STEPS - 6)), float(rng.uniform(0.0, 0.05))
    name = ACTOR[kind].format(i=int(rng.integers(0, 2)))
    deadline = time.monotonic() + 120
    while len(marks(markers, "done_eval")) < after and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(extra)
    try:
        ray.kill(ray.get_actor(name, namespace="kernelevolve"), no_restart=kind == "controller")
        killed.append(name)
    except ValueError:  # the run ended (or the actor is restarting) before the kill point
        return


def _resumed(run: Run) -> Run:
    archive = Archive(run.run_dir, run.run_id, task=run.task.name, platform=run.platform)
    return Run(config=run.config, run_id=run.run_id, run_dir=run.run_dir, task=run.task, platform=run.platform,
               archive=archive, operator=run.operator, resumed=True)


def trial(kind: str, seed: int, root: Path) -> dict[str, int]:
    """Runs one search with one kill (and a resume when the run died); returns its counts."""
    markers = root / "marks"
    markers.mkdir(parents=True)
    judge = functools.partial(MarkingJudge, str(markers), DELAY_S)
    operator = functools.partial(MarkingOperator, str(markers), DELAY_S)
    run = make_run(root, search={"max_steps": STEPS, "stall": 0, "concurrency": IN_FLIGHT}, cluster=CLUSTER)
    killed: list[str] = []
    thread = threading.Thread(target=_killer, args=(kind, seed, markers, killed))
    thread.start()
    failed, resumes = 0, 0
    try:
        run_with_ray(run, judge_factory=judge, operator_factory=operator)
    except Exception:  # noqa: BLE001 - a benchmark: the controller's death is expected, anything else counted
        thread.join()
        if kind != "controller":
            failed = 1
            traceback.print_exc()
        run.archive.close()
        run, resumes = _resumed(run), 1
        run_with_ray(run, judge_factory=judge, operator_factory=operator)
    thread.join()
    rows = run.archive.meta.nodes(run.run_id)
    evaluated = [r for r in rows if r["state"] == "evaluated"]
    ids = [r["id"] for r in rows]
    per_node = collections.Counter(e["node_id"] for e in run.archive.meta.evaluations(run.run_id))
    judged = collections.Counter(key for key, _, _ in marks(markers, "done_eval"))
    run.archive.close()
    return {"kills": len(killed), "resumes": resumes, "failed": failed,
            "lost": max(0, STEPS - len(evaluated)) + int(ids != list(range(len(ids)))),
            "duplicated": sum(n > 1 for n in per_node.values()) + len(rows) - len({r["source_sha256"] for r in rows}),
            "rejudged": sum(n > 1 for n in judged.values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--kinds", nargs="+", default=list(ACTOR))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    ray.init(num_cpus=8, num_gpus=2, namespace="kernelevolve", include_dashboard=False, runtime_env=WORKER_ENV,
             log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory(prefix="chaos_ray_") as tmp:
        for kind in args.kinds:
            started = time.monotonic()
            counts = [trial(kind, seed, Path(tmp) / f"{kind}_{seed}") for seed in range(args.trials)]
            row = {"actor": kind, "trials": args.trials,
                   **{k: sum(c[k] for c in counts) for k in ("kills", "resumes", "failed", "lost", "duplicated", "rejudged")},
                   "seconds": round(time.monotonic() - started, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)  # noqa: T201 - a benchmark's report
    ray.shutdown()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if all(r["lost"] == r["duplicated"] == r["failed"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
