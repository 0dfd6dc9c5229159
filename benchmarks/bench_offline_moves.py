"""How fast the offline operator's search reaches a known optimum, on a synthetic judge (CPU, no kernels).

    python3 benchmarks/bench_offline_moves.py [--seeds 10] [--max-steps 40] [--concurrency 1 6] [--repo PATH]

The judge scores a kernel by its tunables alone (every single step towards the optimum raises fitness: BLOCK
6 steps up, NUM_STAGES 2 down, NUM_WARPS 1 up; NUM_STAGES 4 does not compile; an alternative seed is correct
but slow), the same shape as tests/unit/operator/test_offline_search.py. Per concurrency and run seed (greedy
policy, top_k 3, exploration 0.2, rewrite_prob 0.1), the real Controller and OfflineOperator run until max_steps
verdicts; printed: verdicts until the optimum was first judged (median and worst over the seeds, "-" when not
reached), failed expansions and sources judged twice. --repo runs another checkout's kernelevolve (e.g. an
archive of an older commit) with this same judge, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path

SEED = '''BLOCK = 32  # elements per program
NUM_STAGES = 3
NUM_WARPS = 4
TUNABLE_SPACE = {"BLOCK": (16, 32, 64, 128, 256, 512, 1024, 2048), "NUM_STAGES": (1, 2, 3, 4),
                 "NUM_WARPS": (1, 2, 4, 8)}
'''
ALT = '''ROWS = 2  # another algorithm: its own tunables
TUNABLE_SPACE = {"ROWS": (1, 2, 4)}
'''
OPTIMUM = {"BLOCK": 2048, "NUM_STAGES": 1, "NUM_WARPS": 8}


def search(root: Path, *, concurrency: int, max_steps: int, seed: int) -> dict:
    """Returns one search's numbers: verdicts until the optimum, failed expansions, sources judged twice."""
    from kernelevolve.controller import Controller
    from kernelevolve.core.types import EvalResult, EvalStatus
    from kernelevolve.operator.offline import OfflineOperator, alternative_seeds, read_tunables
    from kernelevolve.search.config import SearchConfig
    from kernelevolve.search.greedy import GreedyPolicy
    from kernelevolve.store.archive import Archive

    judged: list[dict] = []

    class Judge:
        def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
            _, v = read_tunables(source)
            judged.append(v)
            if "ROWS" in v:
                return EvalResult(status=EvalStatus.OK, fitness=0.5, platform="fake")
            if v["NUM_STAGES"] == 4:
                return EvalResult(status=EvalStatus.COMPILE_ERROR, reason="out of shared memory", platform="fake")
            fitness = (1 + 0.5 * math.log2(v["BLOCK"] / 16) + 0.4 * (3 - v["NUM_STAGES"])
                       + 0.2 * math.log2(v["NUM_WARPS"]))
            return EvalResult(status=EvalStatus.OK, fitness=fitness, platform="fake")

    work = root / f"c{concurrency}_s{seed}"
    work.mkdir(parents=True)
    (work / "seed.py").write_text(SEED)
    (work / "seed_alt.py").write_text(ALT)
    operator = OfflineOperator(work / "seed.py", rewrite_prob=0.1, alternatives=alternative_seeds(work / "seed.py"))
    archive = Archive(work / "run", "r", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="bench")
    outcome = Controller(config=SearchConfig(concurrency=concurrency, max_steps=max_steps, stall=0),
                         policy=GreedyPolicy(top_k=3, exploration=0.2), operator=operator, judge=Judge(),
                         archive=archive, seed=seed).run()
    first = next((i + 1 for i, v in enumerate(judged) if v == OPTIMUM), None)
    twice = len(judged) - len({tuple(sorted(v.items())) for v in judged})
    return {"to_optimum": first, "expansion_failures": outcome.progress.expansion_failures, "judged_twice": twice}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 6])
    parser.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]))
    args = parser.parse_args()
    sys.path.insert(0, args.repo)
    print(f"repo {args.repo}, {args.seeds} run seeds, {args.max_steps} verdicts each")
    print("| concurrency | reached optimum | verdicts to optimum: median (worst) | failed expansions (mean) "
          "| sources judged twice (total) |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for c in args.concurrency:
            rows = [search(Path(tmp), concurrency=c, max_steps=args.max_steps, seed=s) for s in range(args.seeds)]
            reached = [r["to_optimum"] for r in rows if r["to_optimum"] is not None]
            med = f"{statistics.median(reached):.0f} ({max(reached)})" if reached else "-"
            fails = statistics.mean(r["expansion_failures"] for r in rows)
            print(f"| {c} | {len(reached)}/{len(rows)} | {med} | {fails:.1f} | {sum(r['judged_twice'] for r in rows)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
