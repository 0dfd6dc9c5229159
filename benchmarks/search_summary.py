"""One table over finished search runs: best fitness, per-shape times, candidates judged and their rate.

    python3 benchmarks/search_summary.py RUN_DIR [RUN_DIR ...] [--ops ops.json] [--json out.json]

Per run (read from its store, kernelevolve/report/data.py): the best correct node, its fitness (the judge's
geomean of baseline/candidate over the timed shapes; the baseline is the run's eval.baseline), its per-shape
candidate and baseline medians as the judge measured them, the verdicts (ok / not ok), the search's wall time
and verdicts per minute, the stop reason, the seed it started from, and the export's dispatch per shape.
With --ops (bench_ops.py's JSON for the same runs, `--run RUN_DIR`), each shape also gets the independent
do_bench re-measurement in one process: the exported kernel, eager, torch.compile (max-autotune-no-cudagraphs),
its speedup over torch.compile and the dispatch rule's decision from those timings.
Needs only the repository (no torch device): it reads stores and JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernelevolve.report.data import load_run  # noqa: E402


def run_row(run_dir: Path) -> dict:
    """Returns one run's numbers (see the module docstring)."""
    data = load_run(run_dir)
    best = data.best
    by_id = {n.id: n for n in data.nodes}
    wall = float(data.progress.get("elapsed_s", 0.0))
    judged = len(data.verdicts)
    return {
        "run_id": data.run_id, "task": data.task, "platform": data.platform, "stop_reason": data.stop_reason,
        "seed_path": (data.config.get("operator") or {}).get("seed_path"),
        "baseline": (data.config.get("eval") or {}).get("baseline"),
        "best_node": best.id if best else None, "best_fitness": best.score if best else 0.0,
        "best_note": best.note if best else None,
        # the moves from the root to the best node, and how often the best improved (verdict order)
        "best_path": [f"{i}: {by_id[i].note}" for i in data.lineage if i in by_id],
        "improvements": _improvements(data),
        "duplicates_dropped": sum(str(e.get("failure") or "").startswith("duplicate") for e in data.expansions),
        "expansion_failures": sum(e.get("status") == "failed" for e in data.expansions),
        "verdicts": judged, "ok": sum(v.status == "ok" for v in data.verdicts),
        "wall_s": wall, "verdicts_per_min": 60.0 * judged / wall if wall > 0 else None,
        "shapes": [{"shape": t.shape, "candidate_ms": t.candidate_ms, "baseline_ms": t.baseline_ms,
                    "baseline_name": t.baseline_name} for t in (best.timings if best else [])],
        "dispatch": data.dispatch,
    }


def _improvements(data) -> int:  # noqa: ANN001 (RunData)
    """Returns how many verdicts, in arrival order, raised the best fitness over every earlier one."""
    best, count = 0.0, 0
    for v in data.verdicts:
        if v.status == "ok" and v.fitness > best:
            count += best > 0  # the first correct verdict sets the bar
            best = v.fitness
    return count


def _ms(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "-"


def print_tables(rows: list[dict], ops: dict | None) -> None:
    """Prints the per-run table, then the per-shape table (judge, and bench_ops when given)."""
    print("| task | run | seed | best node | fitness (vs baseline) | verdicts (ok) | improvements | "
          "failed expansions (duplicates) | wall s | verdicts/min | stop |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rate = f"{r['verdicts_per_min']:.1f}" if r["verdicts_per_min"] else "-"
        print(f"| {r['task']} | {r['run_id']} | {Path(r['seed_path'] or 'seed.py').name} | {r['best_node']} "
              f"({r['best_note']}) | {r['best_fitness']:.3f} ({r['baseline']}) | {r['verdicts']} ({r['ok']}) | "
              f"{r['improvements']} | {r['expansion_failures']} ({r['duplicates_dropped']}) | "
              f"{r['wall_s']:.0f} | {rate} | {r['stop_reason']} |")
    for r in rows:
        print(f"\n{r['task']}: root to best: " + " / ".join(r["best_path"]))
    bench = {(o["task"], o["shape"]): o for o in (ops or {}).get("rows", [])}
    print("\n| task | shape | judge: best ms | judge: baseline ms | do_bench: export ms | eager ms | "
          "torch.compile ms | vs torch.compile | dispatch (run / rule) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        choices = {c["shape"]: c for c in (r["dispatch"] or [])}
        for s in r["shapes"]:
            o = bench.get((r["task"], s["shape"]), {})
            times = o.get("times", {})
            kernel = (times.get("kernel") or {}).get("median_ms")
            compiled = (times.get("torch_compile") or {}).get("median_ms")
            ratio = f"{compiled / kernel:.2f}x" if kernel and compiled else "-"
            run_choice = choices.get(s["shape"], {}).get("why", "-")
            print(f"| {r['task']} | {s['shape']} | {_ms(s['candidate_ms'])} | {_ms(s['baseline_ms'])} "
                  f"({s['baseline_name']}) | {_ms(kernel)} | {_ms((times.get('eager') or {}).get('median_ms'))} | "
                  f"{_ms(compiled)} | {ratio} | {run_choice} / {o.get('dispatch_rule', '-')} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories (store.root/<run id>)")
    parser.add_argument("--ops", default="", help="bench_ops.py JSON of the same runs")
    parser.add_argument("--json", default="", help="write the rows here too")
    args = parser.parse_args()
    rows, missing = [], []
    for run in args.runs:
        if not (Path(run) / "meta.db").is_file():
            missing.append(run)
            continue
        rows.append(run_row(Path(run)))
    ops = json.loads(Path(args.ops).read_text()) if args.ops and Path(args.ops).is_file() else None
    print_tables(rows, ops)
    for run in missing:
        print(f"(no store at {run}: that search did not start or was removed)")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": rows, "ops": ops}, indent=1, default=str))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
