"""A cold worker's candidate compiles in a compile-only worker beside the worker's start (eval/compile_ahead.py).

The cpu platform runs Triton's interpreter, where the Evaluator leaves this off (nothing to compile); these tests
turn it on to check the plumbing: the compile-only worker really runs the candidate before the judge's job, only
for a cold worker, its failure or hang never touches the verdict, and nothing of it outlives the verdict."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eval_helpers import FAST, HERE

from kernelevolve.eval import evaluator as evaluator_module
from kernelevolve.eval.compile_ahead import FirstCompile
from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.eval.judge_pool import JudgePool
from kernelevolve.tasks.loader import load_task

TASK = load_task(str(HERE / "tasks" / "scale_shift.py"))
HONEST = (HERE / "honest" / "scale_shift.py").read_text()
WAIT = "phase.compile_ahead_wait_s"
# true only inside a compile-only worker (its harness module is loaded there, never in the judge's worker)
IN_PRECOMPILE = "import sys\nPRECOMPILING = 'kernelevolve.eval.precompile' in sys.modules\n"


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluator]:
    """One judge for the module (its referee starts once); each test retires its worker to start a cold one."""
    judge = Evaluator(TASK, platform="cpu", config=FAST, workdir=tmp_path_factory.mktemp("ahead"))
    assert not judge.compile_ahead, "the interpreter has nothing to compile: off unless a test turns it on"
    judge.compile_ahead = True
    yield judge
    judge.close()


@pytest.mark.slow
def test_a_cold_workers_candidate_is_compiled_ahead_once(evaluator: Evaluator, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="kernelevolve.eval.compile_ahead")
    evaluator._retire()
    first = evaluator.evaluate(HONEST, candidate_id="first")
    second = evaluator.evaluate(HONEST, candidate_id="second")  # the same worker, warm: nothing ahead
    assert evaluator._first is None
    assert first.ok and second.ok, (first.reason, second.reason)
    assert WAIT in first.metrics and WAIT not in second.metrics
    ran = [r.getMessage() for r in caplog.records if "compile ahead of candidate=" in r.getMessage()]
    assert len(ran) == 1 and ran[0].startswith("compile ahead of candidate=first: ok,"), ran


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["raise RuntimeError('only in the compile-only worker')",
                                     "import time\n    while True:\n        time.sleep(0.05)"])
def test_a_compile_ahead_that_fails_or_hangs_leaves_the_verdict_alone(evaluator: Evaluator, failure: str,
                                                                      caplog: pytest.LogCaptureFixture,
                                                                      monkeypatch: pytest.MonkeyPatch):
    caplog.set_level(logging.INFO, logger="kernelevolve.eval.compile_ahead")
    made: list[FirstCompile] = []

    class Recorded(FirstCompile):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(evaluator_module, "FirstCompile", Recorded)
    source = f"{IN_PRECOMPILE}if PRECOMPILING:\n    {failure}\n{HONEST}"
    evaluator._retire()
    result = evaluator.evaluate(source, candidate_id="odd")
    assert len(made) == 1 and not made[0]._pool._live, "its compile-only worker is gone before the verdict"
    assert result.ok, (result.reason, result.error)  # the judge's worker is not a compile-only one: it runs fine
    assert WAIT in result.metrics
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "compile ahead of candidate=odd" in said and "candidate=odd: ok" not in said, said


def test_a_lone_device_judge_compiles_ahead_and_a_search_judge_pool_never(tmp_path: Path):
    # a device platform (nothing is started, so no GPU is needed): on the cpu platform it is off anyway
    task, config = load_task("conv1d"), dataclasses.replace(FAST, compile_cache="")
    with Evaluator(task, platform="cuda", config=config, workdir=tmp_path / "lone") as lone:
        assert lone.compile_ahead
    off = dataclasses.replace(config, precompile_workers=0)
    with Evaluator(task, platform="cuda", config=off, workdir=tmp_path / "off") as no_compile_workers:
        assert not no_compile_workers.compile_ahead
    pool = JudgePool(task, platform="cuda", config=config, workdir=tmp_path / "pool", judges=2)
    try:
        assert pool.judges and not any(judge.compile_ahead for judge in pool.judges)
    finally:
        pool.close()
