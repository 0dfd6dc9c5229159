"""Benchmarks compiling candidates off the device (EvalPipeline + k compile-only workers) against the plain judge.

Run: `PYTHONPATH=. python3 benchmarks/bench_precompile.py [--candidates 8] [--workers 4] [--window 4]
[--inputs host|device] [--baseline compile|eager] [--autotune N]` on the GPU box (torch + triton + kernelevolve only; no
hydra, no ray). Prints a table and writes JSON to $OUT/bench_precompile.json when OUT is set.

The candidates are the task's seed with different tunables from its TUNABLE_SPACE, so each compiles
new kernels. Each mode starts from a cold Triton cache (its own workdir) and first evaluates the
unmodified seed once, untimed (worker start and baseline compiles are the same in both modes).
  plain       one Evaluator judges the candidates one after another (it compiles on the device slot).
  precompile  the same, wrapped in EvalPipeline: the next `window` candidates are queued for compiling
              (as the controller's prefetch does for what is in flight) while the judge times one.
Reported per mode: evaluations per minute, and the device-slot time per candidate (the judge's own
evaluate call, which is what holds the device), mean and median; plus the precompile hits/misses.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernelevolve.eval.config import BaselineKind, EvalConfig  # noqa: E402
from kernelevolve.eval.evaluator import Evaluator  # noqa: E402
from kernelevolve.eval.platforms import resolve_platform  # noqa: E402
from kernelevolve.eval.precompile_pool import EvalPipeline, Precompiler  # noqa: E402
from kernelevolve.eval.wire.messages import InputPlacement  # noqa: E402
from kernelevolve.tasks.loader import load_task  # noqa: E402

# Moderate tiles only: every variant fits the H100's shared memory, so each is a real candidate.
SPACE = {"BLOCK_M": (32, 64, 128), "BLOCK_N": (32, 64), "BLOCK_K": (16, 32), "NUM_WARPS": (4, 8),
         "NUM_STAGES": (2, 3)}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="conv1d")
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--window", type=int, default=4, help="candidates queued for compiling ahead of the judge")
    parser.add_argument("--inputs", default="host", choices=[str(i) for i in InputPlacement])
    parser.add_argument("--baseline", default="compile", choices=[str(b) for b in BaselineKind])
    parser.add_argument("--autotune", type=int, default=0,
                        help="conv1d only: each candidate autotunes over this many configs of its own (0 = plain tunables)")
    return parser.parse_args()


def variants(seed: str, count: int) -> list[str]:
    """Returns `count` copies of the seed, each with a different combination of SPACE's tunables."""
    combos = itertools.product(*SPACE.values())
    out = []
    for combo in itertools.islice(combos, 1, None):  # the first is closest to the seed's own: skip it
        source = seed
        for name, value in zip(SPACE, combo, strict=True):
            source = re.sub(rf"^{name} = \d+", f"{name} = {value}", source, count=1, flags=re.MULTILINE)
        out.append(source)
        if len(out) == count:
            break
    return out


def autotuned_variants(seed: str, count: int, configs: int) -> list[str]:
    """Returns `count` copies of the conv1d seed whose kernel autotunes over `configs` configs of its own
    (disjoint sets of SPACE's combinations, so no two candidates share a compiled kernel)."""
    combos = list(itertools.product(*SPACE.values()))
    if count * configs > len(combos):
        raise SystemExit(f"--candidates x --autotune is above the {len(combos)} distinct configs of SPACE")
    out = []
    for i in range(count):
        chosen = combos[i * configs:(i + 1) * configs]
        listed = ", ".join(f'triton.Config({{"BLOCK_M": {m}, "BLOCK_N": {n}, "BLOCK_K": {k}}}, num_warps={w}, '
                           f"num_stages={st})" for m, n, k, w, st in chosen)
        source = seed.replace("@triton.jit\ndef _conv1d_kernel(", f"@triton.autotune(configs=[{listed}], "
                              'key=["B", "CIN", "COUT", "L"])\n@triton.jit\ndef _conv1d_kernel(')
        source = source.replace("grid = (triton.cdiv(B * L, BLOCK_M), triton.cdiv(COUT, BLOCK_N))",
                                'grid = lambda meta: (triton.cdiv(B * L, meta["BLOCK_M"]), triton.cdiv(COUT, meta["BLOCK_N"]))')
        source = source.replace("        BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K,\n"
                                "        num_warps=NUM_WARPS, num_stages=NUM_STAGES,\n", "")
        if "triton.autotune" not in source or "meta[" not in source or "num_warps=NUM_WARPS" in source:
            raise SystemExit("the conv1d seed changed: the autotune rewrite no longer applies")
        out.append(source)
    return out


def run_mode(mode: str, args: argparse.Namespace, seed: str, sources: list[str], config: EvalConfig) -> dict[str, Any]:
    """Returns the timings of one mode, from a cold cache."""
    task, platform = load_task(args.task), resolve_platform("auto")
    workdir = Path(tempfile.mkdtemp(prefix=f"bench_precompile_{mode}_"))
    judge = Evaluator(task, platform=platform, config=config, workdir=workdir)
    pipeline = None
    if mode == "precompile":
        pipeline = EvalPipeline(judge, Precompiler(task, platform=platform, config=config, workdir=workdir,
                                                   workers=args.workers, inputs=InputPlacement(args.inputs)))
    try:
        judge.evaluate(seed, candidate_id="warm")  # worker start + baselines: untimed, the same in both modes
        slot_s, verdicts = [], []
        start = time.perf_counter()
        for i, source in enumerate(sources):
            if pipeline is not None:
                for j in range(i, min(i + args.window + 1, len(sources))):
                    pipeline.prefetch(sources[j], candidate_id=f"c{j}")
                pipeline.precompile(source, candidate_id=f"c{i}")  # waits outside the device slot
            began = time.perf_counter()
            verdict = judge.evaluate(source, candidate_id=f"c{i}")  # the device slot
            slot_s.append(time.perf_counter() - began)
            verdicts.append(str(verdict.status))
            if pipeline is not None:
                pipeline.precompiler.forget(f"c{i}")
        wall = time.perf_counter() - start
        stats = pipeline.stats() if pipeline is not None else {}
    finally:
        (pipeline or judge).close()
    return {"mode": mode, "candidates": len(sources), "wall_s": wall, "evals_per_min": 60 * len(sources) / wall,
            "slot_s_mean": statistics.fmean(slot_s), "slot_s_median": statistics.median(slot_s),
            "slot_s": slot_s, "verdicts": verdicts, **stats}


def main() -> int:
    """Runs both modes and prints/writes the comparison."""
    args = _parse()
    seed = (ROOT / "knowledge_base" / "samples" / args.task / "seed.py").read_text()
    sources = autotuned_variants(seed, args.candidates, args.autotune) if args.autotune else \
        variants(seed, args.candidates)
    config = EvalConfig(baseline=BaselineKind(args.baseline), precompile_workers=args.workers)
    rows = [run_mode(mode, args, seed, sources, config) for mode in ("plain", "precompile")]
    print(f"{'mode':<11} {'evals/min':>9} {'slot s mean':>11} {'slot s median':>13} {'hits':>5} {'misses':>6}")
    for r in rows:
        print(f"{r['mode']:<11} {r['evals_per_min']:>9.1f} {r['slot_s_mean']:>11.2f} {r['slot_s_median']:>13.2f} "
              f"{r.get('precompile_hits', 0):>5.0f} {r.get('precompile_misses', 0):>6.0f}")
    print("verdicts:", {r["mode"]: r["verdicts"] for r in rows})
    result = {"task": args.task, "workers": args.workers, "window": args.window, "inputs": args.inputs,
              "baseline": args.baseline, "autotune": args.autotune, "modes": rows}
    if os.environ.get("OUT"):
        path = Path(os.environ["OUT"]) / "bench_precompile.json"
        path.write_text(json.dumps(result, indent=1))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
