"""A search process to kill: runs the controller with the fake operator and judge on a run directory.

    python -m tests.integration.resume_driver RUN_DIR --policy greedy --seed 3 --max-steps 30 \
        [--resume] [--delay 0.01] [--judge-log FILE]

A new run creates RUN_DIR; --resume continues the run stored there (restore_graph + the controller's
re-queuing of in-flight work). --delay makes every expansion and evaluation take that many seconds,
so a kill lands in the middle of one. --judge-log appends the id of every node the judge finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

from kernelevolve.controller import Controller, Outcome, restore_graph
from kernelevolve.core.types import EvalResult
from kernelevolve.operator.expansion import Expansion, ExpansionRequest
from kernelevolve.search.config import PolicyName, SearchConfig
from kernelevolve.search.factory import build_policy
from kernelevolve.search.graph import Graph
from kernelevolve.search.termination import Progress
from kernelevolve.store.archive import Archive
from tests.fakes import FakeJudge, FakeOperator

RUN_ID = "driven"


class SlowOperator(FakeOperator):
    """FakeOperator that takes `delay` seconds per expansion."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def expand(self, request: ExpansionRequest) -> Expansion:
        time.sleep(self.delay)
        return super().expand(request)


class LoggingJudge(FakeJudge):
    """FakeJudge that takes `delay` seconds and appends each finished node id to a log (fsynced)."""

    def __init__(self, delay: float, log: Path | None) -> None:
        super().__init__()
        self.delay = delay
        self.log = log

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        time.sleep(self.delay)
        result = super().evaluate(source, candidate_id=candidate_id)
        if self.log is not None:
            with open(self.log, "a") as fh:
                fh.write(f"{candidate_id}\n")
                fh.flush()
                os.fsync(fh.fileno())
        return result


def drive(run_dir: Path, *, policy: str, seed: int, max_steps: int, resume: bool = False, delay: float = 0.0,
          judge_log: Path | None = None, concurrency: int = 1) -> Outcome:
    """Runs (or resumes) the driven search to termination and returns its outcome."""
    config = SearchConfig(policy=PolicyName(policy), max_steps=max_steps, stall=0, concurrency=concurrency)
    archive = Archive(run_dir, RUN_ID, task="fake", platform="fake")
    graph, progress = Graph(), Progress()
    if resume:
        graph, progress = restore_graph(archive)
    else:
        archive.start(config=dataclasses.asdict(config), versions={}, host="test")
    controller = Controller(config=config, policy=build_policy(config), operator=SlowOperator(delay),
                            judge=LoggingJudge(delay, judge_log), archive=archive, seed=seed, graph=graph,
                            progress=progress)
    outcome = controller.run()
    archive.meta.finish_run(RUN_ID, status="finished", stop_reason=outcome.stop_reason.value,
                            progress=dataclasses.asdict(outcome.progress))
    archive.close()
    return outcome


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--policy", default="greedy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--judge-log", type=Path, default=None)
    args = parser.parse_args(argv)
    drive(args.run_dir, policy=args.policy, seed=args.seed, max_steps=args.max_steps, resume=args.resume,
          delay=args.delay, judge_log=args.judge_log)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
