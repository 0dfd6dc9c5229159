"""Benchmarks the judge on a GPU: seconds per phase of a verdict, verdicts per minute, GPU busy, stability.

Run: `PYTHONPATH=. python3 benchmarks/bench_eval.py [--tasks conv1d,mbdt] [--repeats 5] [--reject]`
(needs torch + triton + the kernelevolve package on PYTHONPATH; no hydra, no ray). Prints one table per task
and writes JSON to $OUT/bench_eval.json when OUT is set.

What it measures, per task (its seed kernel from knowledge_base/samples/<task>/seed.py):
  first verdict  a fresh Evaluator's first verdict: worker + referee start-up (torch.compile of the baselines,
                 cold or from Inductor's cache) and the verdict itself.
  warm verdicts  `repeats` more verdicts of the same candidate in the same Evaluator: median seconds per
                 phase (the verdict's phase.* metrics), verdicts per minute, fitness spread = (max - min) /
                 median, and two busy figures: gpu_busy_s / wall (device time of the judge's own kernels:
                 candidate, baseline and reference calls, from CUDA events) and nvidia-smi's utilization.gpu
                 sampled every 100 ms over the warm verdicts (any kernel running, L2 flushes and the timer's
                 device sleeps included).
  rejection      with --reject: a wrong candidate (conv1d seed with its bias subtracted) and one that does not
                 compile, 3 verdicts each: seconds per verdict, all of it device slot time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernelevolve.cli import terminate_as_exit  # noqa: E402
from kernelevolve.eval.config import BaselineKind, EvalConfig, OutputTransport  # noqa: E402
from kernelevolve.eval.evaluator import Evaluator  # noqa: E402
from kernelevolve.eval.platforms import resolve_platform  # noqa: E402
from kernelevolve.tasks.loader import builtin_task_names, load_task  # noqa: E402

WRONG_PATCH = ("acc += bias[None, :]", "acc -= bias[None, :]")


class GpuSampler:
    """nvidia-smi utilization.gpu every 100 ms in a background process, averaged over a window."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        try:
            self._proc = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                           "-lms", "100"], stdout=subprocess.PIPE, text=True)
        except OSError:
            self._proc = None
            return
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                self.samples.append((time.perf_counter(), float(line.strip().split(",")[0])))
            except ValueError:
                continue

    def mean(self, start: float, end: float) -> float | None:
        window = [u for t, u in self.samples if start <= t <= end]
        return statistics.mean(window) / 100 if window else None

    def close(self) -> None:
        if self._proc is not None:
            self._proc.terminate()


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="conv1d", help="comma-separated built-in task names, or all")
    parser.add_argument("--candidate", type=Path, default=None, help="default: knowledge_base/samples/<task>/seed.py")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", default="compile", choices=[str(b) for b in BaselineKind])
    parser.add_argument("--platform", default="auto")
    parser.add_argument("--transport", default="auto", choices=[str(t) for t in OutputTransport])
    parser.add_argument("--reject", action="store_true", help="also time the rejection of wrong/broken candidates")
    parser.add_argument("--fresh", type=int, default=0,
                        help="also judge the candidate once in each of N fresh Evaluators (new worker and referee) "
                             "sharing one workdir (and so Inductor's cache) as one run's workers do: the spread of "
                             "fitness across processes")
    parser.add_argument("--compile-cache", default="",
                        help="eval.compile_cache, the machine-wide warm compile cache (default: a new empty temp "
                             "dir, so each task's first verdict is cold whatever ran before)")
    parser.add_argument("--no-compile-ahead", action="store_true",
                        help="the first verdict compiles its candidate only once the worker has started, not in a "
                             "compile-only worker beside the start (eval/compile_ahead.py): for a side-by-side")
    parser.add_argument("--next-run", action="store_true",
                        help="also judge the candidate once in a new run (new workdir) after the first: its first "
                             "verdict with the baselines in the machine-wide compile cache")
    return parser.parse_args()


# how each shape was timed (measure.py's notes): what moves a fitness between verdicts of one candidate
TIMING_NOTES = ("timing_reps.", "baseline_probe_drift.", "baseline_remeasured.", "timing_stopped_slower.")


def _row(result, seconds: float) -> dict:
    return {"status": str(result.status), "fitness": result.fitness, "seconds": seconds,
            "phases": {k: v for k, v in result.metrics.items() if k.startswith("phase.")},
            "gpu_busy_s": result.metrics.get("gpu_busy_s"), "reason": result.reason[:300],
            "error": (result.error or "")[-1500:],
            "per_shape": {t.shape: {"candidate_ms": t.candidate_ms, "iqr_ms": t.candidate_iqr_ms,
                                    "baseline_ms": t.baseline_ms, "baseline": t.baseline_name} for t in result.timings},
            "timing_notes": {k: v for k, v in result.metrics.items() if k.startswith(TIMING_NOTES)},
            "eager_ms": {k.removeprefix("eager_ms."): v for k, v in result.metrics.items() if k.startswith("eager_ms.")}}


def bench_task(name: str, args: argparse.Namespace, sampler: GpuSampler) -> dict:
    task = load_task(name)
    candidate = args.candidate or ROOT / "knowledge_base" / "samples" / task.name / "seed.py"
    source = candidate.read_text()
    platform = resolve_platform(args.platform)
    config = EvalConfig(baseline=BaselineKind(args.baseline), timeout_s=600.0,
                        output_transport=OutputTransport(args.transport), compile_cache=args.compile_cache)
    with tempfile.TemporaryDirectory() as workdir, \
            Evaluator(task, platform=platform, config=config, workdir=Path(workdir)) as evaluator:
        evaluator.compile_ahead = evaluator.compile_ahead and not args.no_compile_ahead
        t0 = time.perf_counter()
        first = _say(name, "first verdict", _row(evaluator.evaluate(source, candidate_id="first"),
                                                   time.perf_counter() - t0))
        rows = []
        start = time.perf_counter()
        for i in range(args.repeats):
            t0 = time.perf_counter()
            rows.append(_say(name, f"warm verdict {i + 1}", _row(evaluator.evaluate(source, candidate_id=f"repeat-{i}"),
                                                              time.perf_counter() - t0)))
        end = time.perf_counter()
        rejects = _rejects(evaluator, source) if args.reject else {}
    with tempfile.TemporaryDirectory() as shared:  # one run's workdir: fresh workers share its compile caches
        fresh = [_say(name, f"fresh worker {i + 1}", _fresh_fitness(task, source, platform, config, Path(shared)))
                 for i in range(args.fresh)]
    next_run = None
    if args.next_run:  # a new run: its own workdir, the machine-wide compile cache the first run filled
        with tempfile.TemporaryDirectory() as workdir, \
                Evaluator(task, platform=platform, config=config, workdir=Path(workdir)) as evaluator:
            t0 = time.perf_counter()
            next_run = _say(name, "next run's first verdict",
                            _row(evaluator.evaluate(source, candidate_id="next-run"), time.perf_counter() - t0))
    fitness = [r["fitness"] for r in rows]
    median = statistics.median(fitness) if fitness else 0.0
    busy = sum(r["gpu_busy_s"] or 0.0 for r in rows)
    fresh_fit = [r["fitness"] for r in fresh]
    fresh_median = statistics.median(fresh_fit) if fresh else None
    return {"task": name, "platform": platform, "first": first, "next_run": next_run, "rows": rows, "rejects": rejects,
            "fresh": fresh, "fresh_fitness": fresh_fit,
            "fresh_spread": (max(fresh_fit) - min(fresh_fit)) / fresh_median if fresh_median else None,
            "statuses": sorted({r["status"] for r in rows} | {first["status"]} | ({next_run["status"]} if next_run else set())),
            "verdict_s_median": statistics.median(r["seconds"] for r in rows) if rows else None,
            "verdicts_per_min": 60.0 * len(rows) / (end - start) if rows else None,
            "fitness_median": median, "fitness_spread": (max(fitness) - min(fitness)) / median if median else None,
            "gpu_busy_fraction": busy / (end - start) if rows else None, "smi_util": sampler.mean(start, end)}


def _say(task: str, what: str, row: dict) -> dict:
    """Prints one verdict as it comes (a run capped mid-task still shows what it measured); returns row."""
    start = row["phases"].get("phase.worker_start_s")
    print(f"  {task} {what}: {row['status']} in {row['seconds']:.1f} s"
          + (f" (worker start {start:.1f} s)" if start else "") + f", fitness {row['fitness']:.4g}", flush=True)
    return row


def _fresh_fitness(task, source: str, platform: str, config: EvalConfig, workdir: Path) -> dict:
    """Returns fitness and per-shape times of one verdict in a fresh Evaluator (own worker, referee, baselines),
    in the workdir all fresh Evaluators of the benchmark share, as the workers of one run do."""
    with Evaluator(task, platform=platform, config=config, workdir=workdir) as evaluator:
        t0 = time.perf_counter()
        return _row(evaluator.evaluate(source, candidate_id="fresh"), time.perf_counter() - t0)


def _rejects(evaluator: Evaluator, source: str) -> dict:
    found = {}
    variants = {"syntax": source + "\ndef broken(:\n"}
    if WRONG_PATCH[0] in source:
        variants["wrong"] = source.replace(*WRONG_PATCH)
    for label, text in variants.items():
        seconds, statuses = [], []
        for i in range(3):
            t0 = time.perf_counter()
            result = evaluator.evaluate(text, candidate_id=f"{label}-{i}")
            seconds.append(time.perf_counter() - t0)
            statuses.append(str(result.status))
        found[label] = {"seconds": seconds, "statuses": statuses, "median_s": statistics.median(seconds)}
    return found


def main() -> int:
    args = _parse()
    if not args.compile_cache:
        args.compile_cache = tempfile.mkdtemp(prefix="bench_eval_compiled_")
    sampler = GpuSampler()
    summaries = []
    # a `timeout` cap's SIGTERM unwinds like Ctrl-C: the Evaluator kills its worker, referee and baseline compile
    # children (each in a session of its own), which would otherwise keep the GPU and CPUs busy for the next step
    with terminate_as_exit("bench_eval"):
        try:
            names = builtin_task_names() if args.tasks == "all" else [n.strip() for n in args.tasks.split(",")]
            for name in names:
                summaries.append(bench_task(name, args, sampler))
                _print(summaries[-1])
                _write(summaries)  # after every task: a capped run keeps what it measured
        finally:
            sampler.close()
    _print_table(summaries)
    return 0 if all(s["statuses"] == ["ok"] for s in summaries) else 1


def _write(summaries: list[dict]) -> None:
    """Writes the summaries so far to $OUT/bench_eval.json when OUT is set."""
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "bench_eval.json").write_text(json.dumps({"device": _device_name(), "runs": summaries}, indent=2))


def _device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def _print_table(summaries: list[dict]) -> None:
    """Prints one row per task: the first verdict cold and in a next run, the warm verdicts, the spread."""
    print("\n| task | first verdict, s (worker start) | next run's first, s | warm median, s | verdicts/min | "
          "fitness (spread) | statuses |")
    print("|---|---|---|---|---|---|---|")
    for s in summaries:
        first, nxt = s["first"], s["next_run"]
        start = first["phases"].get("phase.worker_start_s", 0.0) + first["phases"].get(
            "phase.worker_start.baselines_s", 0.0) + first["phases"].get("phase.worker_start.context_s", 0.0)
        print(f"| {s['task']} | {first['seconds']:.1f} ({start:.1f}) | "
              f"{_fmt(nxt['seconds'] if nxt else None, '.1f')} | {_fmt(s['verdict_s_median'])} | "
              f"{_fmt(s['verdicts_per_min'], '.1f')} | {_fmt(s['fitness_median'], '.3f')} "
              f"({_fmt((s['fitness_spread'] or 0) * 100, '.2f')}%) | {', '.join(s['statuses'])} |")


def _print(s: dict) -> None:
    print(f"\n== {s['task']} on {_device_name()} ({s['platform']}): first verdict {s['first']['status']} in "
          f"{s['first']['seconds']:.1f} s; warm verdict median {_fmt(s['verdict_s_median'])} s, "
          f"{_fmt(s['verdicts_per_min'], '.1f')}/min")
    print(f"   fitness median {_fmt(s['fitness_median'], '.4f')}, spread {_fmt((s['fitness_spread'] or 0) * 100, '.2f')}%"
          f", gpu_busy/wall {_fmt(s['gpu_busy_fraction'])}, nvidia-smi util {_fmt(s['smi_util'])}, "
          f"statuses {s['statuses']}")
    for r in [s["first"], *s["rows"]]:
        if r["status"] != "ok":
            print(f"   {r['status']}: {r['reason']}")
            break
    names = sorted({k for r in [s["first"], *s["rows"]] for k in r["phases"]})
    print(f"   {'phase':<34} {'first':>8} {'warm median':>12}")
    for name in names:
        warm = [r["phases"].get(name, 0.0) for r in s["rows"]]
        print(f"   {name:<34} {s['first']['phases'].get(name, 0.0):>8.3f} "
              f"{(statistics.median(warm) if warm else 0.0):>12.3f}")
    _print_shapes([s["first"], *s["rows"]])
    if s["next_run"]:
        r = s["next_run"]
        print(f"   next run (new workdir, machine-wide compile cache warm): first verdict {r['status']} in "
              f"{r['seconds']:.1f} s (worker start {r['phases'].get('phase.worker_start_s', 0.0):.1f} s)")
    if s["fresh_fitness"]:
        print(f"   fresh workers: fitness {[round(f, 4) for f in s['fresh_fitness']]}, "
              f"spread {(s['fresh_spread'] or 0) * 100:.2f}%")
    for label, r in s["rejects"].items():
        print(f"   reject {label}: median {r['median_s']:.3f} s per verdict, statuses {sorted(set(r['statuses']))}")


def _print_shapes(rows: list[dict]) -> None:
    """Prints per shape the candidate and baseline ms of each verdict (first, then warm), and whether the baseline was
    the worker's cached one or re-measured after a drifting probe: a fitness spread shows up here."""
    for shape in rows[0]["per_shape"] if rows else []:
        cells = []
        for r in rows:
            t = r["per_shape"].get(shape)
            if t is None:
                cells.append("-")
                continue
            notes = r["timing_notes"]
            flag = "R" if notes.get(f"baseline_remeasured.{shape}") else ("c" if ":cached" in (t["baseline"] or "") else "")
            cells.append(f"{t['candidate_ms']:.4f}/{t['baseline_ms']:.4f}{flag}")
        print(f"   {shape:<22} cand/base ms per verdict (c: cached baseline, R: re-measured): {' '.join(cells)}")


if __name__ == "__main__":
    sys.exit(main())
