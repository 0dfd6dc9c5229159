"""With a torch.compile baseline the worker also times the eager reference (the export's fallback), interleaved
whenever the baseline is timed in full, and reports it on every verdict as `eager_ms.<shape>`."""

from __future__ import annotations

import dataclasses
import types

import torch

from kernelevolve.eval.worker import measure
from kernelevolve.eval.worker.candidate import WorkerContext

SHAPE = "b4"


class _Timer:
    """Times each callable as its name says: the candidate 2 ms, the compiled baseline 3 ms, eager 1 ms."""

    label = "fake"
    MS = {"candidate": 2.0, "baseline": 3.0, "eager": 1.0}

    def __init__(self, rounds: list[list[str]]) -> None:
        self.rounds = rounds

    def measure(self, fns, before=None, every=None, stop=None):
        self.rounds.append(sorted(fns))
        for fn in fns.values():
            fn()
        return {name: [self.MS[name]] * 5 for name in fns}


class _Feed:
    keep: dict = {}

    def __init__(self, *args) -> None:
        pass

    def before(self) -> None:
        return None

    def collect(self) -> None:
        return None

    def spot(self) -> list:
        return []


def _ctx(rounds: list[list[str]]) -> WorkerContext:
    platform = types.SimpleNamespace(interpreter=False, name="cuda", device=lambda: torch.device("cpu"),
                                     synchronize=lambda: None, make_timer=lambda **_: _Timer(rounds))
    task = types.SimpleNamespace(compile_options={})
    return WorkerContext(task=task, platform=platform, guard=None, snapshot=None, counter=None, tmpdir=None)


def test_eager_is_timed_with_every_full_baseline_and_reported_on_every_verdict(monkeypatch):
    monkeypatch.setattr(measure, "FreshDraws", _Feed)
    monkeypatch.setattr(measure, "candidate_fn", lambda ctx, model, slots, keep: lambda: None)
    monkeypatch.setattr(measure, "check_process_state", lambda *a: None)
    monkeypatch.setattr(measure.procstate, "capture", lambda: None)
    rounds: list[list[str]] = []
    ctx = _ctx(rounds)
    sc = types.SimpleNamespace(shape=SHAPE, cases=[types.SimpleNamespace(inputs=[torch.ones(3)])])
    job = types.SimpleNamespace(timing_seed=1, warmup_ms=1, rep_ms=1, reps=5, flush_mb=0, baseline_refresh=3,
                                best_ms={}, slower_margin=-1.0, baseline_probe_tolerance=0.5)
    eager_calls: list[int] = []

    class Eager(torch.nn.Module):
        def forward(self, x):
            eager_calls.append(1)
            return x * 2

    def verdict():
        ctx.jobs_done += 1
        timing, _, notes = measure.time_shape(ctx, job, sc, None, [], lambda: None, "compile", 0, {}, eager=Eager())
        return timing, notes

    first, notes = verdict()  # the worker's first: baseline and eager timed on every rep, beside the candidate
    assert rounds[-1] == ["baseline", "candidate", "eager"] and notes[f"eager_ms.{SHAPE}"] == 1.0
    assert first.baseline_ms == 3.0 and first.candidate_ms == 2.0  # the fitness stays against torch.compile
    calls = len(eager_calls)
    _, notes = verdict()  # the baseline is cached (probed): eager is not run at all, its median stands
    assert rounds[-1] == ["baseline", "candidate"] and notes[f"eager_ms.{SHAPE}"] == 1.0
    assert len(eager_calls) == calls
    ctx.jobs_done += 2  # baseline_refresh jobs later the baseline is timed in full again, and eager with it
    verdict()
    assert rounds[-1] == ["baseline", "candidate", "eager"]
    _, _, notes = measure.time_shape(dataclasses.replace(ctx, eager_times={}), job, sc, None, [], lambda: None,
                                     "eager", 0, {}, eager=None)  # an eager baseline: nothing beside it
    assert f"eager_ms.{SHAPE}" not in notes and rounds[-1] == ["baseline", "candidate"]
