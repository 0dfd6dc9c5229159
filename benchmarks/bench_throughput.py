"""Benchmarks a whole search: candidates judged per minute and how busy the GPU is over the search's wall time.

Run (on the GPU box, hydra/omegaconf importable):
  `PYTHONPATH=. python3 benchmarks/bench_throughput.py --wall 150 -- +experiment=conv1d platform=cuda cluster=local
   search.concurrency=8`
Everything after `--` goes to `python -m kernelevolve.launch` unchanged (the benchmark adds run.id, a wall-clock
budget, and a step/stall budget the wall clock ends first). Prints one table and writes JSON to
$OUT/bench_throughput.json when OUT is set.

What it measures, from the run's own store (runs/<id>/meta.db) and the device:
  verdicts/min     evaluations recorded between the first and the last verdict, per minute of that window
                   (worker start-up and the first baseline compiles are before the first verdict).
  gpu_busy/wall    the verdicts' gpu_busy_s (CUDA-event device time of candidate, baseline and reference
                   calls) summed over that window, divided by its length: the judge's useful kernel time.
                   With eval.judges_per_device=k the checks of k judges (each a worker and a referee) may run
                   kernels at the same moment, so the sum bounds the device's busy time from above; the timed reps
                   (gpu_timed_s) hold the device alone and never overlap, so timed + (the rest) / 2k bounds it from
                   below. Both bounds are printed; with k = 1 they differ only by the referee's overlap.
  nvidia-smi util  utilization.gpu sampled every 100 ms over the same window: the share of time any kernel
                   ran (includes L2 flushes and the timer's device sleeps, which the figure above does not).
  judge occupancy  the verdicts' eval_seconds (the judge's wall time per candidate) summed over the window, divided
                   by its length: near 1 the judge is the bottleneck, well below it the judge waits for candidates
                   (the operator, the compile workers or the controller are).
  statuses         how many verdicts of each status, and the best fitness reached.
  phases           the median seconds of each verdict phase (phase.*_s) over the window's verdicts: where a
                   search's verdict time goes (Triton's JIT of a new candidate shows as phase.worker.first_case_s).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_eval import GpuSampler  # noqa: E402

from kernelevolve.eval.config import EvalConfig, with_judges  # noqa: E402


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wall", type=float, default=150.0, help="the search's wall-clock budget, seconds")
    parser.add_argument("--run-id", default=f"throughput_{int(time.time())}")
    parser.add_argument("overrides", nargs="*", help="launch overrides (after --)")
    return parser.parse_args()


def _verdicts(run_dir: Path, run_id: str) -> list[dict]:
    with sqlite3.connect(run_dir / "meta.db") as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT e.status, e.fitness, e.metrics_json, e.finished_at, e.reason, n.note, n.created_at "
                          "FROM evaluations e LEFT JOIN nodes n ON n.run_id = e.run_id AND n.id = e.node_id "
                          "WHERE e.run_id = ? ORDER BY e.finished_at", (run_id,)).fetchall()
    return [dict(r) for r in rows]


def _phase_medians(rows: list[dict]) -> dict[str, float]:
    """Returns the median of each phase.*_s metric over the verdicts that have it."""
    found: dict[str, list[float]] = {}
    for row in rows:
        for key, value in json.loads(row["metrics_json"] or "{}").items():
            if key.startswith("phase.") and isinstance(value, int | float):
                found.setdefault(key, []).append(float(value))
    return {key: statistics.median(values) for key, values in sorted(found.items())}


def _judges(run_dir: Path, run_id: str) -> int:
    """Returns the run's eval.judges_per_device, an auto count (-1) resolved for its platform and search.concurrency
    as the launch did."""
    with sqlite3.connect(run_dir / "meta.db") as db:
        config_json, platform = db.execute("SELECT config_json, platform FROM runs WHERE id = ?", (run_id,)).fetchone()
    stored = json.loads(config_json)
    asked = EvalConfig(judges_per_device=int(stored["eval"]["judges_per_device"]))
    return with_judges(asked, platform=platform, concurrency=int(stored["search"]["concurrency"])).judges_per_device


JIT_MISS_S = 0.05  # a judge's Triton JIT above this compiled kernels (a load from the hand-over takes ~0.01 s)


def _judge_compiles(metrics: list[dict]) -> dict[str, float]:
    """Returns how many verdicts had the judge compile kernels itself, and the seconds it spent doing so."""
    jit = [float(m.get("phase.worker.jit_s", 0.0)) for m in metrics]
    missed = [s for s in jit if s > JIT_MISS_S]
    return {"verdicts": len(missed), "seconds": sum(missed)}


def main() -> int:
    args = _parse()
    sampler = GpuSampler()
    cmd = [sys.executable, "-m", "kernelevolve.launch", *args.overrides, f"run.id={args.run_id}",
           f"search.max_wall_s={args.wall}", "search.max_steps=100000", "search.stall=100000"]
    started = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    sampler.close()
    run_dir = ROOT / "runs" / args.run_id
    if proc.returncode != 0 or not (run_dir / "meta.db").exists():
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        return 1
    rows = _verdicts(run_dir, args.run_id)
    ends = [r["finished_at"] for r in rows]
    window = (ends[-1] - ends[0]) if len(ends) > 1 else 0.0
    metrics = [json.loads(r["metrics_json"] or "{}") for r in rows]
    busy = sum(m.get("gpu_busy_s", 0.0) for m in metrics[1:])
    timed = sum(m.get("gpu_timed_s", 0.0) for m in metrics[1:])
    judges = _judges(run_dir, args.run_id)
    judged = sum(m.get("eval_seconds", 0.0) for m in metrics[1:])
    # the sampler's clock is perf_counter: map the store's wall-clock window onto it
    offset = time.perf_counter() - time.time()
    summary = {
        "command": " ".join(cmd[1:]), "run_id": args.run_id, "wall_s": time.time() - started,
        "verdicts": len(rows), "window_s": window,
        "verdicts_per_min": 60.0 * (len(rows) - 1) / window if window > 0 else None,
        "judges_per_device": judges,
        "gpu_busy_fraction": busy / window if window > 0 else None,
        "gpu_busy_lower_fraction": (timed + (busy - timed) / (2 * judges)) / window if window > 0 else None,
        "gpu_timed_fraction": timed / window if window > 0 else None,
        "judge_occupancy": judged / window if window > 0 else None,
        "smi_util": sampler.mean(ends[0] + offset, ends[-1] + offset) if len(ends) > 1 else None,
        "statuses": dict(Counter(r["status"] for r in rows)),
        "best_fitness": max((r["fitness"] for r in rows), default=0.0),
        "phases": _phase_medians(rows[1:]),
        "judge_compiled": _judge_compiles(metrics[1:]),
        "timeline": [{"finished_at": r["finished_at"] - ends[0], "status": r["status"],
                      "created_at": (r["created_at"] or ends[0]) - ends[0], "note": (r["note"] or "")[:80],
                      "reason": (r["reason"] or "")[:120], "eval_seconds": m.get("eval_seconds"),
                      "gpu_busy_s": m.get("gpu_busy_s"), "gpu_timed_s": m.get("gpu_timed_s"),
                      "phases": {k: round(v, 3) for k, v in m.items() if k.startswith("phase.") and v >= 0.05}}
                     for r, m in zip(rows, metrics, strict=True)],
    }
    print(f"{summary['verdicts']} verdicts; {summary['verdicts_per_min'] or 0:.1f}/min over {window:.0f} s "
          f"(first to last verdict); judge occupancy {summary['judge_occupancy'] or 0:.2f}; "
          f"gpu_busy/wall {summary['gpu_busy_lower_fraction'] or 0:.3f}-{summary['gpu_busy_fraction'] or 0:.3f} "
          f"(timed reps {summary['gpu_timed_fraction'] or 0:.3f}; {judges} judge(s)); nvidia-smi util "
          f"{summary['smi_util'] if summary['smi_util'] is not None else float('nan'):.3f}; statuses "
          f"{summary['statuses']}; best fitness {summary['best_fitness']:.3f}")
    compiled = summary["judge_compiled"]
    print(f"  the judge compiled Triton kernels itself (JIT > {JIT_MISS_S} s) in {compiled['verdicts']} of "
          f"{len(rows) - 1} verdicts after the first, {compiled['seconds']:.1f} s in all (a compile-only worker's "
          f"kernels missed or not ready)")
    for name, seconds in summary["phases"].items():
        print(f"  {name:<34} {seconds:8.3f} s median")
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "bench_throughput.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
