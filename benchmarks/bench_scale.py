"""The same conv1d search on 1, 2 and 4 GPUs (cluster=ray, one evaluator per GPU): does throughput scale?

    python3 benchmarks/bench_scale.py --gpus 1 2 4 [--steps 64] [--seed 7] [--repeat 3] [KEY=VALUE ...]  # multi-GPU
    python3 benchmarks/bench_scale.py --smoke                                                # CPU: checks it runs

Every run has the same budget (search.max_steps candidates, the seed included), the offline operator, the same
run.seed and the same settings; only cluster.evaluators changes. The feed (cluster.expansions_per_slot) sizes
the candidates in flight and the expanders to the evaluators. One Ray instance serves all runs (started here
with every GPU the host has), so Ray's start-up is paid once and is not in any row.

Per run: candidates judged, search seconds (the controller's clock: actor start-up excluded), candidates
judged per minute and the speed-up over the 1-GPU run, each evaluator's GPU and GPU kernel-busy fraction
(the verdicts' gpu_busy_s, from CUDA events, over the evaluator's wall time since its first candidate),
the best fitness, and how many candidates it shares (same source) with the first run whose verdicts agree
(same status). KEY=VALUE items are launch overrides for every run (e.g. eval.judges_per_device=1; the default is 2 a GPU). With
--repeat R each GPU count runs R times (runs interleaved: 1, 2, 4, 1, 2, 4, ...); the summary gives the
median candidates per minute with its range, and the speed-up of the medians.

--smoke runs on the Triton interpreter with Ray's faked GPUs (num_gpus=4, no device): a check that the
script and the fleet work, never a measurement (interpreter timings are not GPU timings).
JSON goes to $OUT/bench_scale.json when $OUT is set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402

from kernelevolve.config import register_configs, to_config  # noqa: E402
from kernelevolve.runner import prepare_run  # noqa: E402

SMOKE = {"gpus": [1, 2], "steps": 4, "fake_gpus": 4, "fake_cpus": 8}  # small enough for a 2-core box (logical CPUs)


def _config(root: str, gpus: int, rep: int, args: argparse.Namespace):
    register_configs()
    overrides = ["+experiment=conv1d", "llm=offline", "cluster=ray", f"cluster.evaluators={gpus}",
                 f"search.max_steps={args.steps}", "search.stall=0", f"run.seed={args.seed}",
                 f"store.root={root}", f"run.id=scale-{gpus}gpu-{rep}", *(["platform=cpu"] if args.smoke else []),
                 *args.overrides]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return to_config(compose(config_name="config", overrides=overrides))


def _source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def bench(root: str, gpus: int, rep: int, args: argparse.Namespace) -> tuple[dict, dict[str, str]]:
    """Returns the run's row and {source hash: verdict status} of every candidate it judged."""
    from actors.driver import run_with_ray

    run = prepare_run(_config(root, gpus, rep, args))
    wall = time.monotonic()
    outcome = run_with_ray(run)
    wall_s = time.monotonic() - wall
    stats = json.loads((run.run_dir / "objects" / "cluster_stats.json").read_text())
    p = outcome.progress
    per_gpu = sorted((",".join(e["gpu_ids"]) or "-", round(e["gpu_busy_fraction"], 3), e["evaluated"])
                     for e in stats["evaluators"])
    verdicts = {_source_hash(n.candidate.source): str(n.result.status) for n in outcome.graph.nodes()
                if n.result is not None}
    row = {"gpus": gpus, "rep": rep, "platform": run.platform, "evaluated": p.evaluated, "failures": p.failures,
           "search_s": round(p.elapsed_s, 2), "wall_s": round(wall_s, 2),
           "per_min": round(60.0 * p.evaluated / p.elapsed_s, 2) if p.elapsed_s > 0 else 0.0,
           "gpu_busy": [busy for _, busy, _ in per_gpu], "gpu_ids": [gpu for gpu, _, _ in per_gpu],
           "evaluated_per_gpu": [n for _, _, n in per_gpu],
           "busy_min": min((busy for _, busy, _ in per_gpu), default=0.0),
           "best_fitness": round(p.best_fitness, 4), "concurrency": stats["controller"]["concurrency"],
           "bottleneck": stats["controller"]["bottleneck_line"], "stop_reason": outcome.stop_reason.value}
    return row, verdicts


def _agreement(rows: list[dict], verdicts: list[dict[str, str]]) -> None:
    """Adds to each row the candidates it shares with the first run and how many got the same status."""
    first = verdicts[0]
    for row, mine in zip(rows, verdicts, strict=True):
        shared = set(first) & set(mine)
        row["shared_with_first"] = len(shared)
        row["same_verdict"] = sum(first[h] == mine[h] for h in shared)


def summarize(rows: list[dict]) -> list[dict]:
    """Returns one line per GPU count: median candidates/min with its range, the speed-up of the medians over
    the smallest count, and the lowest GPU kernel-busy fraction seen on any of its GPUs."""
    counts = sorted({row["gpus"] for row in rows})
    lines = []
    for gpus in counts:
        mine = [row for row in rows if row["gpus"] == gpus]
        rates = [row["per_min"] for row in mine]
        lines.append({"gpus": gpus, "runs": len(mine), "per_min_median": round(statistics.median(rates), 2),
                      "per_min_range": f"{min(rates):.2f}-{max(rates):.2f}",
                      "busy_min": min(row["busy_min"] for row in mine),
                      "best_fitness_median": round(statistics.median(row["best_fitness"] for row in mine), 4)})
    base = lines[0]["per_min_median"]
    for line in lines:
        line["speedup"] = round(line["per_min_median"] / base, 2) if base else 0.0
    return lines


def _start_ray(args: argparse.Namespace) -> str:
    """Starts one Ray instance for every run; returns the device description."""
    import ray
    import torch

    if args.smoke:
        if max(args.gpus) > SMOKE["fake_gpus"]:
            raise SystemExit(f"--smoke fakes {SMOKE['fake_gpus']} GPUs; --gpus {max(args.gpus)} asks for more.")
        ray.init(num_cpus=SMOKE["fake_cpus"], num_gpus=SMOKE["fake_gpus"], namespace="kernelevolve",
                 include_dashboard=False, log_to_driver=False)
        return f"cpu (Triton interpreter), {SMOKE['fake_gpus']} GPUs faked by Ray"
    count = torch.cuda.device_count()
    if count < max(args.gpus):
        raise SystemExit(f"--gpus {max(args.gpus)} needs {max(args.gpus)} GPUs; this host has {count}. "
                         "Use --smoke on a machine without them.")
    ray.init(num_gpus=count, namespace="kernelevolve", include_dashboard=False, log_to_driver=False)
    return f"{count} x {torch.cuda.get_device_name(0)}"


def _print(rows: list[dict], summary: list[dict], device: str, args: argparse.Namespace) -> None:
    import ray
    import torch
    import triton

    print(f"device: {device}; torch {torch.__version__}, triton {triton.__version__}, ray {ray.__version__}")
    print(f"conv1d, offline operator, {args.steps} candidates, run.seed {args.seed}, overrides {args.overrides}")
    header = ("gpus", "rep", "evaluated", "failures", "search_s", "per_min", "gpu_busy", "best_fitness",
              "same_verdict", "shared_with_first", "concurrency")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    for row in rows:
        print(f"{row['gpus']} GPU(s), run {row['rep']}: {row['bottleneck'] or 'no bottleneck verdict at the end'}")
    print("summary: " + " | ".join(summary[0]))
    for line in summary:
        print("summary: " + " | ".join(str(v) for v in line.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, nargs="+", help="evaluator counts, one run each (default 1 2 4; "
                        f"smoke: {' '.join(map(str, SMOKE['gpus']))})")
    parser.add_argument("--steps", type=int, help=f"candidates judged per run, the seed included (default 64; "
                        f"smoke: {SMOKE['steps']})")
    parser.add_argument("--seed", type=int, default=7, help="run.seed of every run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per GPU count, for a median and range")
    parser.add_argument("--smoke", action="store_true", help="CPU check with faked GPUs (not a measurement)")
    parser.add_argument("overrides", nargs="*", help="launch overrides for every run (KEY=VALUE)")
    args = parser.parse_args()
    args.gpus = args.gpus or (SMOKE["gpus"] if args.smoke else [1, 2, 4])
    args.steps = args.steps or (SMOKE["steps"] if args.smoke else 64)
    device = _start_ray(args)
    rows, verdicts = [], []
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as root:
        for rep in range(args.repeat):
            for gpus in args.gpus:
                row, seen = bench(root, gpus, rep, args)
                rows.append(row)
                verdicts.append(seen)
    _agreement(rows, verdicts)
    summary = summarize(rows)
    _print(rows, summary, device, args)
    if os.environ.get("OUT"):
        out = Path(os.environ["OUT"]) / "bench_scale.json"
        out.write_text(json.dumps({"device": device, "args": vars(args), "rows": rows, "summary": summary}, indent=1))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
