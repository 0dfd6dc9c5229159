"""The referee: `python -m kernelevolve.eval.referee.main ...`, started by the Evaluator beside each worker.

It builds the same cases as the worker from the same seeds, computes the reference outputs, and
compares the outputs the worker hands over (kernelevolve/eval/wire/exchange.py) under the task's
tolerances. It never receives candidate source, so no candidate code runs in the process that holds
the answers and decides correctness; a candidate can reach it only through the manifest, which is
plain data validated field by field.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import gc
import logging
import sys
from typing import Any

import torch

from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.eval import correctness as cc
from kernelevolve.eval.cases import (
    BUDGET,
    MAX_DRAW,
    SPOT_DRAWS,
    Case,
    ShapeCases,
    build_job_cases,
    build_model,
    make_case_inputs,
    memory_limit,
    run_reference,
    timed_case_id,
)
from kernelevolve.eval.correctness import CaseId, CheckFailed
from kernelevolve.eval.phases import PhaseClock, device_module
from kernelevolve.eval.protocols import Platform
from kernelevolve.eval.wire import exchange
from kernelevolve.eval.wire.messages import Hello, JudgeOutputs, PrepareCases, Prepared, Ready
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
        self.timing_seed = 0  # the job's secret for its timed calls' inputs (PrepareCases.timing_seed)
        self.drawn: set[tuple[str, int]] = set()  # (shape, draw) of the timed calls judged in this job
        self.models: dict[str, torch.nn.Module] = {}  # shape -> reference model, for timed calls' references

    def prepare(self, msg: PrepareCases) -> Prepared:
        """Builds (or, with append, adds) cases; returns their count, each shape's output structure and this
        job's phase seconds. msg.start/msg.stop build only those job-wide case numbers (the first case
        alone, then the rest: early rejection); without append the job starts over."""
        if not msg.append:
            self.cases, self.expected = [], {}
            self.timing_seed, self.drawn, self.models = msg.timing_seed, set(), {}
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
        return Prepared(cases=len(self.cases), expected=dict(self.expected), phases=self._report())

    def judge(self, msg: JudgeOutputs) -> EvalResult:
        """Returns the verdict on a manifest: OK, INCORRECT (first mismatch) or INTEGRITY_VIOLATION.

        msg.require="all": every prepared case numbered min_case or above, below max_case when given (a batch
        of a check too large for memory at once); otherwise the spot-check of a timing round: 1 to SPOT_DRAWS timed
        calls of each of msg.shapes by draw number, each new to this job, whose inputs and references are built
        here from the job's timing_seed. See JudgeOutputs.
        """
        with self.phases.phase("compare"):
            found = self._judge(msg)
        return dataclasses.replace(found, metrics={**found.metrics, **self._report()})

    def _report(self) -> dict[str, float]:
        """The referee's phases. It runs no candidate code, so an error its own device work left (which the clock
        records rather than raises) is the harness's: raised, so the judge reports a harness failure."""
        report = self.phases.report()
        if self.phases.device_error:
            raise RuntimeError(f"the referee's device work failed: {self.phases.device_error}")
        return report

    def _judge(self, msg: JudgeOutputs) -> EvalResult:
        label = msg.label
        try:
            if msg.require != "all":  # a timing round's spot-check: outputs of timed calls, by draw
                draws, shapes = self._group_draws(msg)
                for (shape, draw), entries in sorted(draws.items()):
                    case_id = timed_case_id(shape, self.timing_seed, draw)
                    self._judge_case(shapes[shape], case_id, self._timed_reference(shapes[shape], case_id), entries,
                                     msg.pid)
                    self.drawn.add((shape, draw))
                judged = sum(len(e) for e in draws.values()), len(draws), "timed calls"
            else:
                groups = self._group(msg)
                for number, entries in sorted(groups.items()):
                    sc, case = self.cases[number]
                    self._judge_case(sc, case.id, case.reference, entries, msg.pid)
                judged = sum(len(e) for e in groups.values()), len(groups), "cases"
        except exchange.BadExchange as exc:
            return EvalResult(status=EvalStatus.INTEGRITY_VIOLATION, platform=self.platform.name,
                              reason=f"{label}: the worker's output report is not valid ({exc})")
        except CheckFailed as failure:
            return EvalResult(status=failure.status, reason=f"{label}: {failure.reason}", mismatch=failure.mismatch,
                              platform=self.platform.name)
        outputs, count, what = judged
        return EvalResult(status=EvalStatus.OK, platform=self.platform.name,
                          reason=f"{label}: {outputs} outputs of {count} {what} match the reference")

    def _group(self, msg: JudgeOutputs) -> dict[int, list[dict[str, Any]]]:
        groups: dict[int, list[dict[str, Any]]] = {}
        for entry in _entries(msg):
            number = entry.get("case")
            if not isinstance(number, int) or not 0 <= number < len(self.cases):
                raise exchange.BadExchange(f"output of unknown case {str(number)[:20]}")
            groups.setdefault(number, []).append(entry)
        # every prepared case from min_case up to max_case (or the last), no other
        low, high = msg.min_case, len(self.cases) if msg.max_case is None else msg.max_case
        if any(n < low for n in groups):
            raise exchange.BadExchange(f"outputs of case(s) below {low}, which were judged already")
        if any(n >= high for n in groups):
            raise exchange.BadExchange(f"outputs of case(s) from {high} on, beyond this batch")
        missing = [str(self.cases[n][1].id) for n in range(low, high) if n not in groups]
        if missing:
            raise exchange.BadExchange(f"no outputs reported for {len(missing)} case(s), e.g. {missing[0]}")
        return groups

    def _group_draws(self, msg: JudgeOutputs) -> tuple[dict[tuple[str, int], list[dict[str, Any]]],
                                                       dict[str, ShapeCases]]:
        """Returns a timing round's entries by (shape, draw) and each shape's cases; raises BadExchange unless
        every one of msg.shapes has 1 to SPOT_DRAWS draws, each a valid number not judged before in this job."""
        groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
        found: dict[str, ShapeCases] = {}
        shapes = set(msg.shapes)
        for entry in _entries(msg):
            number, draw = entry.get("case"), entry.get("draw")
            if type(number) is not int or not msg.min_case <= number < len(self.cases):
                raise exchange.BadExchange(f"timed output of unknown case {str(number)[:20]}")
            if type(draw) is not int or not 0 <= draw < MAX_DRAW:
                raise exchange.BadExchange(f"timed output without a timed call's number (draw {str(draw)[:20]})")
            sc = self.cases[number][0]
            if sc.shape not in shapes:
                raise exchange.BadExchange(f"timed output of shape {sc.shape}, expected one of {sorted(shapes)}")
            if (sc.shape, draw) in self.drawn:
                raise exchange.BadExchange(f"outputs of timed call {draw} of shape {sc.shape} were judged already")
            groups.setdefault((sc.shape, draw), []).append(entry)
            found[sc.shape] = sc
        per_shape = collections.Counter(shape for shape, _ in groups)
        if set(per_shape) != shapes or any(n > SPOT_DRAWS for n in per_shape.values()):
            raise exchange.BadExchange(f"timed outputs of {dict(per_shape)} (shape: calls), expected 1 to "
                                       f"{SPOT_DRAWS} calls of each of {sorted(shapes)}")
        return groups, found

    def _timed_reference(self, sc: ShapeCases, case_id: CaseId) -> tuple[torch.Tensor, ...]:
        """Returns the reference outputs of a timed call's inputs, rebuilt here from the job's timing_seed."""
        device, upcast = self.platform.device(), self.task.upcast_reference
        if sc.shape not in self.models:
            self.models[sc.shape] = build_model(self.task, sc.init_inputs, device, upcast=upcast)
        inputs = make_case_inputs(self.task, case_id, device)
        with self.phases.device_work():
            return run_reference(self.models[sc.shape], inputs, upcast)

    def _judge_case(self, sc: ShapeCases, case_id: CaseId, reference: tuple[torch.Tensor, ...],
                    entries: list[dict[str, Any]], pid: int | None) -> None:
        indexes = sorted(e.get("index") for e in entries if isinstance(e.get("index"), int))
        if len(indexes) != len(entries) or len(set(indexes)) != len(indexes):
            raise exchange.BadExchange(f"{case_id}: output indexes {indexes} are not distinct integers")
        if indexes != list(range(len(sc.expected))):
            raise CheckFailed(EvalStatus.INCORRECT, f"{case_id}: {len(entries)} outputs, expected {len(sc.expected)}")
        device = self.platform.device()
        for entry in sorted(entries, key=lambda e: e["index"]):
            index = entry["index"]
            _check_described(entry, sc.expected[index], case_id, index)
            got = exchange.open_output(entry, expected=sc.expected[index], device=device, pid=pid)
            with self.phases.device_work():
                mismatch = cc.compare(got, reference[index], sc.tolerances[index], case_id, index)
            del got  # a device handle: release the worker's memory as soon as it is compared
            if mismatch is not None:
                raise CheckFailed(EvalStatus.INCORRECT,
                                  f"{case_id}: output {index} max abs err {mismatch.max_abs_err:.3g}, "
                                  f"{mismatch.frac_mismatched:.2%} mismatched ({mismatch.detail})", mismatch)


def _entries(msg: JudgeOutputs) -> list[dict[str, Any]]:
    """Returns the manifest's entries; raises BadExchange unless it is a list of objects."""
    if not isinstance(msg.outputs, list) or not all(isinstance(e, dict) for e in msg.outputs):
        raise exchange.BadExchange("the output manifest is not a list of objects")
    return msg.outputs


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
    ready = Ready(device_name=device_name(referee.platform.device()), torch=torch.__version__)
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
