"""`kernelevolve suite --out DIR [--steps N] PATH... [KEY=VALUE...]`: one search per problem, a resumable scored summary."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kernelevolve.suite.runner import SuiteConfig, find_problems, run_suite
from kernelevolve.suite.scores import ProblemResult, suite_scores

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `suite` command to a parent parser's subparsers."""
    suite = subparsers.add_parser(
        "suite", help="search every problem of a directory of KernelBench-format files (or a list); resumable",
        description="Runs one search per problem (python -m kernelevolve.launch) with a per-problem budget and "
                    "writes OUT/summary.md and OUT/summary.json (correct rate, fast_0/1/2 vs eager and vs "
                    "torch.compile, geomean speedups). Started again, it skips the problems already finished.")
    suite.add_argument("items", nargs="+", metavar="PATH_OR_OVERRIDE",
                       help="task files or directories of them; KEY=VALUE items are launch overrides applied to "
                            "every problem (platform=cuda, llm=openai, operator.capture_path=DIR, ...)")
    suite.add_argument("--out", type=Path, required=True, help="the suite's directory (runs, results, summary)")
    suite.add_argument("--steps", type=int, default=SuiteConfig.max_steps, help="candidates judged per problem")
    suite.add_argument("--wall-s", type=float, default=SuiteConfig.max_wall_s,
                       help="seconds of search per problem (0: no limit)")
    suite.add_argument("--dollars", type=float, default=SuiteConfig.max_dollars,
                       help="LLM dollars per problem (0: no limit)")
    suite.add_argument("--jobs", type=int, default=SuiteConfig.jobs,
                       help="problems searched at once (default 1; on one GPU they share the device and its "
                            "timings; with cluster=ray they spread over the cluster's evaluators)")
    suite.add_argument("--no-other-baseline", action="store_true",
                       help="skip timing each best kernel against the baseline the search did not use")
    suite.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Runs the suite; prints one line per problem and the scores; 0 when every problem got a correct kernel."""
    if args.jobs < 1:
        print(f"error: --jobs {args.jobs}: give the number of problems to search at once, 1 or more.", file=sys.stderr)
        return 2
    paths = [Path(i) for i in args.items if "=" not in i]
    overrides = tuple(i for i in args.items if "=" in i)
    config = SuiteConfig(out=args.out, max_steps=args.steps, max_wall_s=args.wall_s, max_dollars=args.dollars,
                         overrides=overrides, other_baseline=not args.no_other_baseline, jobs=args.jobs)

    def show(result: ProblemResult, resumed: bool) -> None:
        verdict = "correct" if result.correct else f"no correct kernel ({result.reason})"
        print(f"{result.problem}: {'finished before, skipped' if resumed else verdict} "
              f"[seed {result.seed_origin or '-'}]", flush=True)

    results = run_suite(find_problems(paths), config, on_result=show)
    scores = suite_scores(results)
    print(f"correct {scores['correct']}/{scores['problems']}; fast_1 vs eager {scores['fast_p']['eager']['fast_1']}, "
          f"vs torch.compile {scores['fast_p']['compile']['fast_1']}; summary: {args.out / 'summary.md'}")
    return 0 if scores["correct"] == scores["problems"] else 1
