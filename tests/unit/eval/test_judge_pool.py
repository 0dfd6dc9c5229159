"""Several judges on one device: verdicts as one judge gives them, and no timed round shares the device."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from eval_helpers import FAST, HERE

from kernelevolve.core.errors import ConfigError
from kernelevolve.core.types import EvalStatus
from kernelevolve.eval.judge_pool import JudgePool
from kernelevolve.tasks.loader import load_task

HONEST = (HERE / "honest" / "scale_shift.py").read_text()
WRONG = HONEST.replace("x * w + b", "x * w - b")  # right on no input with a nonzero shift
TAIL = HONEST.replace("mask=mask)\n    w", "mask=offs < N - 1)\n    w")  # drops the last element's x


def test_judges_sharing_a_device_give_the_verdicts_and_never_time_beside_anything(tmp_path: Path):
    config = dataclasses.replace(FAST, seeds=1)
    task = load_task(str(HERE / "tasks" / "scale_shift.py"))
    held: list[tuple[int, str, float, float]] = []
    sources = {"ok1": HONEST, "wrong": WRONG, "ok2": HONEST, "tail": TAIL, "syntax": "def (:\n" + HONEST}
    expected = {"ok1": EvalStatus.OK, "ok2": EvalStatus.OK, "wrong": EvalStatus.INCORRECT,
                "tail": EvalStatus.INCORRECT, "syntax": EvalStatus.COMPILE_ERROR}
    with JudgePool(task, platform="cpu", config=config, workdir=tmp_path / "eval", judges=2,
                   gate_dir=tmp_path / "gates") as pool:
        for index, judge in enumerate(pool.judges):
            judge.gate.on_release = lambda mode, start, end, i=index: held.append((i, mode, start, end))
        with ThreadPoolExecutor(4) as threads:
            futures = {name: threads.submit(pool.evaluate, src, candidate_id=name) for name, src in sources.items()}
            verdicts = {name: f.result() for name, f in futures.items()}
        assert {name: v.status for name, v in verdicts.items()} == expected, {n: v.reason for n, v in verdicts.items()}
        assert all(j.evaluations >= 1 for j in pool.judges) and pool.evaluations == len(sources)
        assert pool.config.case_memory_fraction == pytest.approx(FAST.case_memory_fraction / 2)
    timed = [h for h in held if h[1] == "exclusive"]
    assert len(timed) == 2  # the two correct candidates were timed, nothing else
    for judge, _, start, end in timed:
        beside = [h for h in held if (h[0], h[2]) != (judge, start) and h[2] < end and start < h[3]]
        assert beside == [], f"judge {judge} timed from {start} to {end} beside {beside}"
    assert {h[0] for h in held if h[1] == "shared"} == {0, 1}  # both judges checked candidates


def test_a_pool_needs_at_least_one_judge(tmp_path: Path):
    with pytest.raises(ConfigError, match="judges_per_device must be at least 1"):
        JudgePool(load_task(str(HERE / "tasks" / "scale_shift.py")), platform="cpu", config=FAST,
                  workdir=tmp_path, judges=0)


def test_a_warmed_pool_starts_its_worker_before_the_first_candidate(tmp_path: Path):
    task = load_task(str(HERE / "tasks" / "scale_shift.py"))
    with JudgePool(task, platform="cpu", config=dataclasses.replace(FAST, seeds=1, spare_worker=False),
                   workdir=tmp_path / "eval", judges=1, gate_dir=tmp_path / "gates") as pool:
        pool.warm()
        verdict = pool.evaluate(HONEST, candidate_id="first")
        assert verdict.ok, verdict.reason
        assert pool.judges[0].worker_starts == 1
        assert "phase.worker_start_s" not in verdict.metrics  # the start was paid before the candidate arrived


def test_the_live_status_says_when_the_judges_wait_for_candidates(tmp_path: Path):
    from kernelevolve.eval.judge_pool import describe_load
    from kernelevolve.feed import FeedMeter, Pool

    now = [0.0]
    with JudgePool(load_task(str(HERE / "tasks" / "scale_shift.py")), platform="cpu", config=FAST,
                   workdir=tmp_path, judges=1, gate_dir=tmp_path / "gates") as pool:
        pool.meter = FeedMeter(eval_slots=1, expand_slots=1, window_s=30.0, clock=lambda: now[0])
        now[0] = 10.0
        assert describe_load(pool) == ""  # not a whole window yet
        token = pool.meter.begin(Pool.EVALUATORS)
        now[0] = 35.0
        pool.meter.end(Pool.EVALUATORS, token)  # busy 10-35 of 5-35
        assert describe_load(pool) == "judges busy 83% over 30 s"
        now[0] = 60.0  # idle since 35: busy 0 of 30-60 but 5 s of it
        line = describe_load(pool)
        assert line.startswith("judges busy 17% over 30 s: they wait for candidates") and "not the device" in line


def test_a_candidate_waiting_for_a_free_judge_is_given_back_when_the_run_withdraws(tmp_path: Path):
    import threading

    from kernelevolve.eval.protocols import Withdrawing, Withdrawn

    with JudgePool(load_task(str(HERE / "tasks" / "scale_shift.py")), platform="cpu", config=FAST,
                   workdir=tmp_path, judges=1, gate_dir=tmp_path / "gates") as pool:
        assert isinstance(pool, Withdrawing)
        busy = pool._free.get()  # the only judge is busy with another candidate
        raised: list[BaseException] = []

        def wait_for_a_judge() -> None:
            try:
                pool.evaluate(HONEST, candidate_id="queued")
            except Withdrawn as exc:
                raised.append(exc)

        thread = threading.Thread(target=wait_for_a_judge, daemon=True)
        thread.start()
        pool.withdraw_waiting()
        thread.join(60)  # a hang guard: without the withdrawal it waits for the busy judge forever
        assert not thread.is_alive() and len(raised) == 1, "the queued candidate was not given back"
        pool._free.put(busy)
        assert busy.evaluations == 0 and busy.worker_starts == 0, "nothing was judged for it"
