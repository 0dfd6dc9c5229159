"""Benchmarks the judge on a GPU: verdict/speedup stability over repeated evaluations and throughput.

Run: `PYTHONPATH=. python3 benchmarks/bench_eval.py [--task conv1d] [--repeats 5] [--baseline compile]`
(needs torch + triton + the kernelevolve package on PYTHONPATH; no hydra, no ray). Prints a table and
writes JSON to $OUT/bench_eval.json when OUT is set.

What it measures:
  stability   the same candidate (the task's seed kernel) evaluated `repeats` times in one Evaluator;
              spread = (max - min) / median of the fitness (target < 3%), and whether every verdict agrees.
  throughput  evaluations per minute over those repeats (worker warm, baselines compiled), and the
              overhead per candidate = eval_seconds minus the time the timed reps themselves take.
  start-up    the first evaluation alone (worker start + torch.compile of baselines when cold).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernelevolve.eval.config import BaselineKind, EvalConfig, OutputTransport  # noqa: E402
from kernelevolve.eval.evaluator import Evaluator  # noqa: E402
from kernelevolve.eval.platforms import resolve_platform  # noqa: E402
from kernelevolve.tasks.loader import load_task  # noqa: E402


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="conv1d")
    parser.add_argument("--candidate", type=Path, default=None, help="default: knowledge_base/samples/<task>/seed.py")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", default="compile", choices=[str(b) for b in BaselineKind])
    parser.add_argument("--platform", default="auto")
    parser.add_argument("--transport", default="auto", choices=[str(t) for t in OutputTransport],
                        help="how outputs reach the referee (auto: device memory handles on CUDA)")
    return parser.parse_args()


def main() -> int:
    args = _parse()
    task = load_task(args.task)
    candidate = args.candidate or ROOT / "knowledge_base" / "samples" / task.name / "seed.py"
    source = candidate.read_text()
    platform = resolve_platform(args.platform)
    config = EvalConfig(baseline=BaselineKind(args.baseline), timeout_s=600.0,
                        output_transport=OutputTransport(args.transport))
    rows = []
    with tempfile.TemporaryDirectory() as workdir, \
            Evaluator(task, platform=platform, config=config, workdir=Path(workdir)) as evaluator:
        t0 = time.perf_counter()
        first = evaluator.evaluate(source, candidate_id="warm-up")
        startup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(args.repeats):
            result = evaluator.evaluate(source, candidate_id=f"repeat-{i}")
            timed_ms = sum(t.candidate_ms + (t.baseline_ms or 0) for t in result.timings)
            rows.append({"repeat": i, "status": str(result.status), "fitness": result.fitness,
                         "eval_seconds": result.metrics.get("eval_seconds", 0.0),
                         "triton_time_fraction": result.metrics.get("triton_time_fraction"),
                         "per_shape": {t.shape: {"candidate_ms": t.candidate_ms, "iqr_ms": t.candidate_iqr_ms,
                                                 "baseline_ms": t.baseline_ms} for t in result.timings},
                         "timed_ms_per_rep": timed_ms, "reason": result.reason})
        wall = time.perf_counter() - t0
    fitness = [r["fitness"] for r in rows]
    median = statistics.median(fitness) if fitness else 0.0
    summary = {
        "task": task.name, "platform": platform, "baseline": args.baseline, "candidate": str(candidate),
        "first_status": str(first.status), "first_reason": first.reason, "startup_seconds": startup_s,
        "statuses": sorted({r["status"] for r in rows}), "fitness_median": median,
        "fitness_spread": (max(fitness) - min(fitness)) / median if median > 0 else None,
        "evals_per_minute": 60.0 * len(rows) / wall if wall > 0 else None,
        "eval_seconds_mean": statistics.mean(r["eval_seconds"] for r in rows) if rows else None,
        "device": _device_name(), "rows": rows,
    }
    _print(summary)
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "bench_eval.json").write_text(json.dumps(summary, indent=2))
    return 0 if summary["statuses"] == ["ok"] else 1


def _device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def _print(summary: dict) -> None:
    print(f"task {summary['task']} on {summary['device']} ({summary['platform']}), baseline {summary['baseline']}")
    print(f"first evaluation: {summary['first_status']} in {summary['startup_seconds']:.1f} s ({summary['first_reason']})")
    print(f"{'repeat':>6} {'status':>10} {'fitness':>9} {'eval_s':>8} {'triton%':>8}")
    for r in summary["rows"]:
        frac = r["triton_time_fraction"]
        print(f"{r['repeat']:>6} {r['status']:>10} {r['fitness']:>9.4f} {r['eval_seconds']:>8.2f} "
              f"{(frac * 100 if frac is not None else float('nan')):>7.1f}%")
    spread = summary["fitness_spread"]
    print(f"fitness median {summary['fitness_median']:.4f}, spread {spread * 100 if spread is not None else float('nan'):.2f}%"
          f" (target < 3%), statuses {summary['statuses']}")
    print(f"throughput {summary['evals_per_minute'] or 0:.2f} evaluations/min, "
          f"mean {summary['eval_seconds_mean'] or 0:.2f} s per candidate")


if __name__ == "__main__":
    sys.exit(main())
