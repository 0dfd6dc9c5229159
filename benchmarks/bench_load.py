"""Load: thousands of candidates with hundreds of expansions in flight on cluster=ray, fast fakes for the
operator and the judge, so what is measured is the controller, the archive and the store.

    python benchmarks/bench_load.py --candidates 5000 --in-flight 256 [--expanders 8] [--evaluators 4]
        [--json out.json]

Starts a local Ray instance (CPU only), runs one search (FakeOperator: `x = <int>` sources; FakeJudge: a
verdict in microseconds) and reports:
- lost / duplicated: stored nodes vs the candidates asked for (ids dense 0..n-1, every node evaluated,
  one evaluation row per node, no source stored twice);
- the store's write rate (nodes with their evaluation committed per second of search);
- the controller's and the archive actor's resident memory, sampled every 0.5 s from /proc (their Ray
  process titles): the peak, and the median of the first and the last tenth of the run (flat = close).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ray  # noqa: E402

from actors.driver import run_with_ray  # noqa: E402
from tests.fakes import FakeJudge, FakeOperator  # noqa: E402
from tests.ray.conftest import WORKER_ENV, make_run  # noqa: E402

TITLES = {"controller": "ray::ControllerActor", "archive": "ray::ArchiveActor"}


def _rss_by_title() -> dict[str, int]:
    """Returns the resident bytes of each watched actor process (by its Ray process title)."""
    found: dict[str, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            kind = next((k for k, t in TITLES.items() if title.startswith(t)), None)
            if kind is not None:
                rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                found[kind] = max(found.get(kind, 0), rss)
        except (OSError, ValueError, IndexError):
            continue
    return found


class Sampler(threading.Thread):
    """Samples the actors' memory until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.samples.append((time.monotonic(), _rss_by_title()))

    def summary(self, kind: str) -> dict[str, float]:
        values = [s[kind] / 2**20 for _, s in self.samples if kind in s]
        if not values:
            return {}
        tenth = max(1, len(values) // 10)
        return {"peak_mib": round(max(values), 1), "first_tenth_mib": round(statistics.median(values[:tenth]), 1),
                "last_tenth_mib": round(statistics.median(values[-tenth:]), 1), "samples": len(values)}


def check(run, candidates: int) -> dict[str, int]:
    """Returns lost and duplicated counts from the store."""
    meta = run.archive.meta
    nodes = meta.nodes(run.run_id)
    ids = [r["id"] for r in nodes]
    evaluated = [r for r in nodes if r["state"] == "evaluated"]
    per_node: dict[int, int] = {}
    for row in meta.evaluations(run.run_id):
        per_node[row["node_id"]] = per_node.get(row["node_id"], 0) + 1
    doubled_evals = sum(1 for n in per_node.values() if n > 1)
    sources = [r["source_sha256"] for r in nodes]
    return {"stored": len(nodes), "lost": max(0, candidates - len(evaluated)) + (ids != list(range(len(ids)))),
            "duplicated": (len(ids) - len(set(ids))) + doubled_evals + (len(sources) - len(set(sources)))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=256)
    parser.add_argument("--expanders", type=int, default=8)
    parser.add_argument("--evaluators", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    ray.init(num_cpus=8, namespace="kernelevolve", include_dashboard=False, runtime_env=WORKER_ENV,
             log_to_driver=False)
    sampler = Sampler()
    with tempfile.TemporaryDirectory(prefix="load_") as tmp:
        run = make_run(Path(tmp), search={"max_steps": args.candidates, "stall": 0, "concurrency": args.in_flight},
                       cluster={"evaluators": args.evaluators, "cpus_per_evaluator": 0.5, "eval_batch": 16,
                                "expanders": args.expanders, "cpus_per_expander": 0.25,
                                "expander_concurrency": -(-args.in_flight // args.expanders)})
        sampler.start()
        started = time.monotonic()
        outcome = run_with_ray(run, judge_factory=FakeJudge, operator_factory=functools.partial(FakeOperator))
        seconds = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
        counts = check(run, args.candidates)
        row = {"candidates": args.candidates, "in_flight": args.in_flight, "expanders": args.expanders,
               "search_s": round(outcome.progress.elapsed_s, 1),
               "evaluations_per_search_s": round(counts["stored"] / max(outcome.progress.elapsed_s, 1e-9), 1),
               "evaluators": args.evaluators, "stop": outcome.stop_reason.value, "seconds": round(seconds, 1),
               "nodes_per_s": round(counts["stored"] / seconds, 1), **counts,
               "controller": sampler.summary("controller"), "archive": sampler.summary("archive"),
               "ray": ray.__version__, "python": sys.version.split()[0]}
        run.archive.close()
    ray.shutdown()
    print(json.dumps(row))  # noqa: T201 - a benchmark's report
    if args.json:
        args.json.write_text(json.dumps(row, indent=1))
    return 0 if counts["lost"] == counts["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
