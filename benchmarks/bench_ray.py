"""Throughput of the conv1d search with cluster=local and cluster=ray on whatever device is present.

    python3 benchmarks/bench_ray.py [--steps 24] [--concurrency 8] [--expanders 2] [--eval-batch 2]
        [--precompile-workers 2]

Needs hydra-core and ray (a GPU machine without network gets them as carried wheels: ray's own, trimmed of
its Java jars and libraries the project does not use, plus hydra-core, omegaconf and antlr4). Both runs use the same experiment (offline operator, default eval settings, platform auto:
cuda when a GPU is visible, else the Triton interpreter) and the same number of concurrent expansions;
the ray run has exactly one evaluator (one GPU) and `--concurrency` expansions in flight.

Prints, per cluster kind: evaluations, search seconds (controller time, Ray start-up excluded), wall
seconds (start-up included), evaluations/minute and the device busy fraction — the share of the search
time during which the evaluator held its device slot (local: time inside Evaluator.evaluate; ray: the
evaluator actor's own account). JSON goes to $OUT/bench_ray.json when $OUT is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402

from kernelevolve.config import register_configs, to_config  # noqa: E402
from kernelevolve.runner import prepare_run, run_search  # noqa: E402


class BusyJudge:
    """Wraps a judge and accounts the time spent inside evaluate (the local device slot)."""

    def __init__(self, judge) -> None:
        self.judge, self.busy_s, self.first, self.last = judge, 0.0, None, None

    def evaluate(self, source: str, *, candidate_id: str):
        start = time.monotonic()
        self.first = self.first or start
        try:
            return self.judge.evaluate(source, candidate_id=candidate_id)
        finally:
            self.last = time.monotonic()
            self.busy_s += self.last - start


def _config(root: str, kind: str, args: argparse.Namespace):
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "+experiment=conv1d", f"search.max_steps={args.steps}", "search.stall=0",
            f"search.concurrency={args.concurrency}", f"store.root={root}", f"run.id=bench-{kind}",
            f"cluster={kind}", "cluster.evaluators=1", f"cluster.expanders={args.expanders}",
            f"cluster.expander_concurrency={max(1, args.concurrency // args.expanders)}",
            f"cluster.eval_batch={args.eval_batch}", "cluster.cpus_per_expander=0.25",
            f"eval.precompile_workers={args.precompile_workers}",
            "eval.judges_per_device=1"])  # bench_local judges with one Evaluator: the same on both sides
    return to_config(cfg)


def bench_local(root: str, args: argparse.Namespace) -> dict:
    from kernelevolve.eval.evaluator import Evaluator
    from kernelevolve.eval.precompile_pool import with_precompile

    config = _config(root, "local", args)
    run, wall = prepare_run(config), time.monotonic()
    workdir = run.run_dir / "eval"
    with Evaluator(run.task, platform=run.platform, config=config.eval, workdir=workdir) as judge:
        busy = BusyJudge(judge)  # the device slot: time inside the judge itself, compiles ahead excluded
        pipeline = with_precompile(busy, run.task, platform=run.platform, config=config.eval, workdir=workdir)
        try:
            outcome = run_search(run, pipeline)
        finally:
            if pipeline is not busy:
                pipeline.close()
    span = (busy.last or 0) - (busy.first or 0)
    return _row("local", run.platform, outcome, time.monotonic() - wall, busy.busy_s / span if span > 0 else 0.0)


def bench_ray(root: str, args: argparse.Namespace) -> dict:
    from actors.driver import run_with_ray

    config = _config(root, "ray", args)
    run, wall = prepare_run(config), time.monotonic()
    outcome = run_with_ray(run)
    stats = json.loads((run.run_dir / "objects" / "cluster_stats.json").read_text())
    busy = stats["evaluators"][0]["slot_fraction"] if stats["evaluators"] else 0.0  # time inside evaluate, not GPU time
    return _row("ray", run.platform, outcome, time.monotonic() - wall, busy)


def _row(kind: str, platform: str, outcome, wall_s: float, busy: float) -> dict:
    p = outcome.progress
    return {"cluster": kind, "platform": platform, "evaluated": p.evaluated, "failures": p.failures,
            "search_s": round(p.elapsed_s, 2), "wall_s": round(wall_s, 2),
            "evals_per_min": round(60.0 * p.evaluated / p.elapsed_s, 2) if p.elapsed_s > 0 else 0.0,
            "device_busy_fraction": round(busy, 3), "best_fitness": round(p.best_fitness, 4),
            "stop_reason": outcome.stop_reason.value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24, help="evaluations per run (the seed included)")
    parser.add_argument("--concurrency", type=int, default=8, help="expansions + evaluations in flight")
    parser.add_argument("--expanders", type=int, default=2, help="expander actors (ray run)")
    parser.add_argument("--eval-batch", type=int, default=2, help="candidates in flight per evaluator (ray run)")
    parser.add_argument("--precompile-workers", type=int, default=2,
                        help="compile-only workers per evaluator (eval.precompile_workers; 0 = compile on the slot)")
    args = parser.parse_args()
    import ray
    import torch
    import triton

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_ray_") as root:
        for bench in (bench_local, bench_ray):
            rows.append(bench(root, args))
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (Triton interpreter)"
    print(f"device: {device}; torch {torch.__version__}, triton {triton.__version__}, ray {ray.__version__}")
    print(f"conv1d search, {args.steps} steps, concurrency {args.concurrency}, 1 evaluator, "
          f"{args.precompile_workers} compile workers")
    header = ("cluster", "evaluated", "failures", "search_s", "wall_s", "evals_per_min", "device_busy_fraction", "best_fitness")
    print(" | ".join(f"{h:>20}" for h in header))
    for row in rows:
        print(" | ".join(f"{row[h]!s:>20}" for h in header))
    if os.environ.get("OUT"):
        out = Path(os.environ["OUT"]) / "bench_ray.json"
        out.write_text(json.dumps({"device": device, "args": vars(args), "rows": rows}, indent=1))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
