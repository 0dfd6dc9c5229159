"""The referee: `python -m kernelevolve.eval.referee.main ...`, started by the Evaluator beside each worker.

It builds the same cases as the worker from the same seeds, computes the reference outputs, and
compares the outputs the worker hands over (kernelevolve/eval/wire/exchange.py) under the task's
tolerances. It never receives candidate source, so no candidate code runs in the process that holds
the answers and decides correctness; a candidate can reach it only through the manifest, which is
plain data validated field by field.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import logging
import sys
from typing import Any

import torch

from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.eval import correctness as cc
from kernelevolve.eval.cases import BUDGET, Case, ShapeCases, build_job_cases, memory_limit
from kernelevolve.eval.correctness import CheckFailed
from kernelevolve.eval.phases import PhaseClock, device_module
from kernelevolve.eval.protocols import Platform
from kernelevolve.eval.wire import exchange
from kernelevolve.eval.wire.messages import Hello, JudgeOutputs, PrepareCases, Prepared
from kernelevolve.eval.wire.serve import Outcome, Session, Turn, device_name, result_sender, serve, start
from kernelevolve.tasks.spec import Task

logger = logging.getLogger(__name__)


class Referee:
    """Holds one job's cases with their references and judges manifests of outputs against them."""

    def __init__(self, task: Task, platform: Platform) -> None:
        self.task = task
        self.platform = platform
        self.cases: list[tuple[ShapeCases, Case]] = []  # numbered as the worker numbers them
        self.expected: dict[str, list[list[Any]]] = {}
        self.phases = PhaseClock(device_module(platform), prefix="referee.")

    def prepare(self, msg: PrepareCases) -> Prepared:
        """Builds (or, with append, adds) cases; returns their count, each shape's output structure and this
        job's phase seconds. msg.start/msg.stop build only those job-wide case numbers (the first case
        alone, then the rest: early rejection); without append the job starts over."""
        if not msg.append:
            self.cases, self.expected = [], {}
            self.phases.reset()
            fraction = msg.case_memory_fraction
            BUDGET.reset(memory_limit(self.platform.device(), float(fraction)) if fraction is not None else None)
        numbers = range(msg.start, msg.stop)
        with self.phases.phase("prepare"):
            for sc in build_job_cases(self.task, shapes=msg.shapes, heldout=msg.heldout, seeds=msg.seeds,
                                      extra_seed=msg.extra_seed if msg.extra_distribution else None,
                                      device=self.platform.device(), reference=True, numbers=numbers,
                                      device_work=self.phases.device_work):
                self.cases.extend((sc, case) for case in sc.cases)
                self.expected[sc.shape] = [[list(size), exchange.dtype_name(dtype)] for size, dtype in sc.expected]
            self.platform.synchronize()
        return Prepared(cases=len(self.cases), expected=dict(self.expected), phases=self.phases.report())

    def judge(self, msg: JudgeOutputs) -> EvalResult:
        """Returns the verdict on a manifest: OK, INCORRECT (first mismatch) or INTEGRITY_VIOLATION.

        msg.require="all": every prepared case numbered min_case or above, below max_case when given (a batch
        of a check too large for memory at once); otherwise cases of exactly msg.shapes, each numbered at least
        min_case (the spot-check of timed reps). See JudgeOutputs.
        """
        with self.phases.phase("compare"):
            found = self._judge(msg)
        return dataclasses.replace(found, metrics={**found.metrics, **self.phases.report()})

    def _judge(self, msg: JudgeOutputs) -> EvalResult:
        label = msg.label
        try:
            groups = self._group(msg.outputs, msg)
            pid = msg.pid
            for number, entries in sorted(groups.items()):
                self._judge_case(number, entries, pid, label)
        except exchange.BadExchange as exc:
            return EvalResult(status=EvalStatus.INTEGRITY_VIOLATION, platform=self.platform.name,
                              reason=f"{label}: the worker's output report is not valid ({exc})")
        except CheckFailed as failure:
            return EvalResult(status=failure.status, reason=f"{label}: {failure.reason}", mismatch=failure.mismatch,
                              platform=self.platform.name)
        outputs = sum(len(e) for e in groups.values())
        return EvalResult(status=EvalStatus.OK, platform=self.platform.name,
                          reason=f"{label}: {outputs} outputs of {len(groups)} cases match the reference")

    def _group(self, entries: Any, msg: JudgeOutputs) -> dict[int, list[dict[str, Any]]]:
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise exchange.BadExchange("the output manifest is not a list of objects")
        groups: dict[int, list[dict[str, Any]]] = {}
        for entry in entries:
            number = entry.get("case")
            if not isinstance(number, int) or not 0 <= number < len(self.cases):
                raise exchange.BadExchange(f"output of unknown case {str(number)[:20]}")
            groups.setdefault(number, []).append(entry)
        if msg.require == "all":  # every prepared case from min_case up to max_case (or the last), no other
            low, high = msg.min_case, len(self.cases) if msg.max_case is None else msg.max_case
            if any(n < low for n in groups):
                raise exchange.BadExchange(f"outputs of case(s) below {low}, which were judged already")
            if any(n >= high for n in groups):
                raise exchange.BadExchange(f"outputs of case(s) from {high} on, beyond this batch")
            missing = [str(self.cases[n][1].id) for n in range(low, high) if n not in groups]
            if missing:
                raise exchange.BadExchange(f"no outputs reported for {len(missing)} case(s), e.g. {missing[0]}")
            return groups
        shapes = set(msg.shapes)
        got = {self.cases[n][0].shape for n in groups}
        if got != shapes or any(n < msg.min_case for n in groups):
            raise exchange.BadExchange(f"timed outputs for shapes {sorted(got)}, expected outputs of this round's "
                                       f"cases of each of {sorted(shapes)}")
        return groups

    def _judge_case(self, number: int, entries: list[dict[str, Any]], pid: int | None, label: str) -> None:
        sc, case = self.cases[number]
        indexes = sorted(e.get("index") for e in entries if isinstance(e.get("index"), int))
        if len(indexes) != len(entries) or len(set(indexes)) != len(indexes):
            raise exchange.BadExchange(f"{case.id}: output indexes {indexes} are not distinct integers")
        if indexes != list(range(len(sc.expected))):
            raise CheckFailed(EvalStatus.INCORRECT, f"{case.id}: {len(entries)} outputs, expected {len(sc.expected)}")
        device = self.platform.device()
        for entry in sorted(entries, key=lambda e: e["index"]):
            index = entry["index"]
            _check_described(entry, sc.expected[index], case.id, index)
            got = exchange.open_output(entry, expected=sc.expected[index], device=device, pid=pid)
            with self.phases.device_work():
                mismatch = cc.compare(got, case.reference[index], sc.tolerances[index], case.id, index)
            del got  # a device handle: release the worker's memory as soon as it is compared
            if mismatch is not None:
                raise CheckFailed(EvalStatus.INCORRECT,
                                  f"{case.id}: output {index} max abs err {mismatch.max_abs_err:.3g}, "
                                  f"{mismatch.frac_mismatched:.2%} mismatched ({mismatch.detail})", mismatch)


def _check_described(entry: dict[str, Any], expected: tuple[tuple[int, ...], torch.dtype], case: Any,
                     index: int) -> None:
    """Raises CheckFailed (INCORRECT) when an output's claimed size or dtype is not the reference's.

    Compared as numbers, never allocated: a manifest claiming a huge output costs the referee nothing.
    """
    size, dtype = exchange.described(entry)
    shape, want = expected
    if size != tuple(shape):
        raise CheckFailed(EvalStatus.INCORRECT, f"{case}: output {index} has shape {size[:8]}, expected {tuple(shape)}")
    if dtype != want:
        raise CheckFailed(EvalStatus.INCORRECT, f"{case}: output {index} has dtype {dtype}, expected {want}")


def _open(args: Any, hello: Hello, turn: Turn) -> Session:
    """Loads the task and the platform; returns the referee's session (prepare and judge requests)."""
    from kernelevolve.eval.platforms import get_platform
    from kernelevolve.tasks.loader import load_task

    referee = Referee(load_task(args.task), get_platform(args.platform))
    ready = {"device_name": device_name(referee.platform.device()), "torch": torch.__version__}
    gc.collect()
    gc.freeze()  # start-up objects leave the collector's scans (a collection mid-judge stays cheap)

    def handle(msg: dict[str, Any], turn: Turn) -> Outcome:
        if msg.get("phase") == "prepare":
            return Outcome(referee.prepare(PrepareCases.from_wire(msg)).to_wire())
        return Outcome(referee.judge(JudgeOutputs.from_wire(msg)).to_dict())

    return Session(ready=ready, handle=handle, send=result_sender(args.verdict_fd))


def main(argv: list[str] | None = None) -> int:
    """Serves prepare/judge requests until the evaluator closes the channel (started like every worker:
    limits and, where the OS allows, no network — the referee reads data a candidate shaped)."""
    return start(argv, lambda args, _isolated: serve(args, functools.partial(_open, args)),
                 prog="kernelevolve.eval.referee.main")


if __name__ == "__main__":
    sys.exit(main())
