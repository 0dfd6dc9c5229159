"""Compile-only workers on the cpu platform (interpreter: import + construction only): parallelism, kills,
error reports, scrubbed secrets, bookkeeping by candidate id, and the EvalPipeline / controller hooks."""

from __future__ import annotations

import collections
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eval_helpers import FAST, SEED

from kernelevolve.controller import Controller
from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.eval.precompile_pool import EvalPipeline, Precompiler, with_precompile
from kernelevolve.eval.protocols import Precompiling
from kernelevolve.eval.wire.messages import PrecompileStatus
from kernelevolve.search.config import SearchConfig
from kernelevolve.search.greedy import GreedyPolicy
from kernelevolve.store.archive import Archive
from kernelevolve.tasks.loader import load_task
from tests.fakes import FakeJudge, FakeOperator

CONFIG = dataclasses.replace(FAST, timeout_s=4.0)
HANG = "while True:\n    pass\n"
RESULT_S = 60  # a bound on waiting for a future, far above any job here (the pool's own timeout is 4 s)


def _marking(source: str, folder: Path, tag: str) -> str:
    """Returns source that first leaves a marker file named after `tag` (one per import) in its private dir
    (the only place a candidate may write); `folder` names this test's markers apart from others'."""
    return f"import uuid\nopen('{folder.name}_{tag}__' + uuid.uuid4().hex, 'w').close()\n{source}"


def _marks(workdir: Path, folder: Path) -> collections.Counter[str]:
    """Returns how many markers of this test each tag left, over every live worker's private dir."""
    return collections.Counter(p.name.removeprefix(f"{folder.name}_").split("__")[0]
                               for p in workdir.glob(f"worker_*/{folder.name}_*"))


def _rendezvous(folder: Path, me: str, other: str) -> str:
    """Returns a candidate that imports only if `other` is importing at the same time (bounded wait).

    Each leaves its mark in its own private dir (the only place it may write) and looks for the other's in
    its sibling workers' dirs (reads are free). `folder` names this test's marks apart from earlier ones.
    """
    mark = f"{folder.name}_{{}}"
    return (f"import glob, os, time\nopen({mark.format(me)!r}, 'w').close()\n"
            f"for _ in range(300):\n    if glob.glob(os.path.join('..', '*', {mark.format(other)!r})):\n        break\n"
            f"    time.sleep(0.01)\nelse:\n    raise RuntimeError('{other} never ran beside {me}')\n"
            + SEED.read_text())


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Precompiler]:
    precompiler = Precompiler(load_task("conv1d"), platform="cpu", config=CONFIG,
                              workdir=tmp_path_factory.mktemp("precompile"), workers=2)
    yield precompiler
    precompiler.close()


@pytest.mark.slow
def test_two_jobs_really_run_at_once_in_two_workers(pool: Precompiler, tmp_path: Path):
    a = pool.submit("meet_a", _rendezvous(tmp_path, "a", "b"))
    b = pool.submit("meet_b", _rendezvous(tmp_path, "b", "a"))
    ra, rb = a.result(RESULT_S), b.result(RESULT_S)
    assert ra.ok and rb.ok, (ra.error, rb.error)  # serialized jobs could not both have met their partner
    assert ra.worker_pid != rb.worker_pid
    assert max(ra.started, rb.started) < min(ra.finished, rb.finished), "the workers' job intervals overlap"


@pytest.mark.slow
def test_a_hanging_candidate_costs_only_its_worker(pool: Precompiler):
    hang = pool.submit("hang", HANG)
    after = [pool.submit(f"after_{i}", SEED.read_text()) for i in range(4)]
    result = hang.result(RESULT_S)
    assert result.status is PrecompileStatus.TIMEOUT and "no verdict within" in (result.error or "")
    with pytest.raises(ProcessLookupError):
        os.kill(result.worker_pid, 0)  # killed with its process group, and reaped
    served = [f.result(RESULT_S) for f in after]
    assert [r.status for r in served] == [PrecompileStatus.OK] * 4
    assert result.worker_pid not in {r.worker_pid for r in served}


@pytest.mark.slow
@pytest.mark.parametrize("source,status,words", [
    ("def broken(:\n", PrecompileStatus.COMPILE_ERROR, "SyntaxError"),
    ("import torch\nx = 1\n", PrecompileStatus.COMPILE_ERROR, "ModelNew"),
    ("raise ImportError('no such kernel lib')\n", PrecompileStatus.COMPILE_ERROR, "no such kernel lib"),
    (SEED.read_text().replace("def forward(", "def __init__(self):\n        raise ValueError('bad init')\n\n"
                              "    def forward("), PrecompileStatus.RUNTIME_ERROR, "bad init"),
    ("import os\nos.system('true')\n", PrecompileStatus.INTEGRITY_VIOLATION, "os.system"),
])
def test_failures_are_reported_by_kind(pool: Precompiler, source: str, status: PrecompileStatus, words: str):
    result = pool.submit(f"bad_{status}_{hash(source)}", source).result(RESULT_S)
    assert result.status is status and words in (result.error or ""), result.error


@pytest.mark.slow
def test_results_are_keyed_by_candidate_id_none_lost_or_run_twice(pool: Precompiler, tmp_path: Path):
    ids = [f"id_{i}" for i in range(5)]
    futures = {i: pool.submit(i, _marking(SEED.read_text(), tmp_path, i)) for i in ids}
    again = pool.submit("id_2", "this would not even parse(")  # a second submit is the first job
    assert again is futures["id_2"]
    done = {i: f.result(RESULT_S) for i, f in futures.items()}
    assert all(r.candidate_id == i and r.ok for i, r in done.items())
    assert {k: v for k, v in pool.results().items() if k in ids} == done
    assert _marks(pool.workdir, tmp_path) == dict.fromkeys(ids, 1)
    pool.forget("id_0")
    assert "id_0" not in pool.results()


@pytest.mark.slow
def test_parent_secrets_never_reach_a_worker_or_a_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KERNELEVOLVE_TEST_API_KEY", "sk-live-0123456789")
    leak = "import os\nraise RuntimeError(repr(os.environ.get('KERNELEVOLVE_TEST_API_KEY')) + repr(dict(os.environ)))\n"
    with_secret = "raise RuntimeError('sk-live-0123456789'[::-1][::-1])\n"  # a known secret echoed is masked
    precompiler = Precompiler(load_task("conv1d"), platform="cpu", config=CONFIG, workdir=tmp_path, workers=1)
    try:
        leaked = precompiler.submit("leak", leak).result(RESULT_S)
        echoed = precompiler.submit("echo", with_secret).result(RESULT_S)
    finally:
        precompiler.close()
    assert "RuntimeError: None{" in (leaked.error or ""), leaked.error
    assert "sk-live" not in (leaked.error or "") and "'KERNELEVOLVE_TEST_API_KEY':" not in (leaked.error or "")
    assert "sk-live-0123456789" not in (echoed.error or "") and "[REDACTED]" in (echoed.error or "")


@pytest.mark.slow
def test_close_kills_the_running_job_and_cancels_queued_ones(tmp_path: Path):
    precompiler = Precompiler(load_task("conv1d"), platform="cpu", config=dataclasses.replace(CONFIG, timeout_s=60),
                              workdir=tmp_path, workers=1)
    running = precompiler.submit("hang", _marking(HANG, tmp_path, "hang"))
    queued = [precompiler.submit(f"q{i}", SEED.read_text()) for i in range(2)]
    while not _marks(tmp_path, tmp_path)["hang"]:  # the hang is importing now
        os.sched_yield()
    precompiler.close()
    assert running.result(RESULT_S).status is PrecompileStatus.CRASHED
    assert all(f.cancelled() for f in queued)
    assert precompiler.submit("late", SEED.read_text()).cancelled()
    assert not list(tmp_path.glob("worker_*")), "every worker's private dir is removed"


class _RecordingPrecompiler:
    """Stands in for Precompiler: records submits, answers with a fixed status."""

    def __init__(self, status: PrecompileStatus, events: list[str], compiled: int = 0) -> None:
        from concurrent.futures import Future

        from kernelevolve.eval.protocols import PrecompileResult

        self.config, self.events, self._future = CONFIG, events, Future
        self._result = lambda cid: PrecompileResult(candidate_id=cid, status=status, compile_s=0.5, compiled=compiled)

    def submit(self, candidate_id: str, source: str):  # noqa: ANN201 - a Future, as Precompiler.submit
        self.events.append(f"submit {candidate_id}")
        future = self._future()
        future.set_result(self._result(candidate_id))
        return future

    def forget(self, candidate_id: str) -> None:
        self.events.append(f"forget {candidate_id}")

    def close(self) -> None:
        self.events.append("close")


class _RecordingJudge(FakeJudge):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        self.events.append(f"judge {candidate_id}")
        return EvalResult(status=EvalStatus.OK, fitness=1.0, platform="fake")


@pytest.mark.parametrize("status", [PrecompileStatus.OK, PrecompileStatus.COMPILE_ERROR, PrecompileStatus.TIMEOUT])
def test_the_pipeline_always_judges_after_the_compile_and_counts_it_once(status: PrecompileStatus):
    events: list[str] = []
    pipeline = EvalPipeline(_RecordingJudge(events), _RecordingPrecompiler(status, events))  # type: ignore[arg-type]
    assert isinstance(pipeline, Precompiling)
    pipeline.precompile("src", candidate_id="c1")  # the actor's call, outside the device slot
    result = pipeline.evaluate("src", candidate_id="c1")
    assert result.ok, "a compile report never decides the verdict: the real judge does"
    assert events.index("judge c1") > events.index("submit c1") and "forget c1" in events
    stats = pipeline.stats()
    ok = status is PrecompileStatus.OK
    assert (stats["precompile_hits"], stats["precompile_misses"]) == (float(ok), float(not ok))
    assert stats["precompile_compile_s"] == 0.5


@pytest.mark.parametrize("compiled", [0, 2])
def test_a_failed_compile_says_whether_it_handed_over_the_kernels_it_made(compiled: int,
                                                                          caplog: pytest.LogCaptureFixture):
    """A compile-only run stopped by the candidate's host code (outputs sized from a count no kernel computed there)
    has still compiled, and handed over, the kernels before that point: the log says so, not that nothing was."""
    events: list[str] = []
    precompiler = _RecordingPrecompiler(PrecompileStatus.RUNTIME_ERROR, events, compiled=compiled)
    pipeline = EvalPipeline(_RecordingJudge(events), precompiler)  # type: ignore[arg-type]
    with caplog.at_level("INFO", logger="kernelevolve.eval.precompile_pool"):
        pipeline.precompile("src", candidate_id="c1")
        assert pipeline.evaluate("src", candidate_id="c1").ok
    said = [r.getMessage() for r in caplog.records if "precompile of candidate=c1" in r.getMessage()]
    assert len(said) == 1
    if compiled:
        assert "2 kernel(s) handed over, the judge compiles the rest" in said[0]
    else:
        assert "the judge compiles it" in said[0] and "handed over" not in said[0]


def test_precompile_is_off_on_the_interpreter_and_at_zero_workers(tmp_path: Path):
    judge = FakeJudge()
    task = load_task("conv1d")
    assert with_precompile(judge, task, platform="cpu", config=CONFIG, workdir=tmp_path) is judge
    off = dataclasses.replace(CONFIG, precompile_workers=0)
    assert with_precompile(judge, task, platform="cuda", config=off, workdir=tmp_path) is judge
    with pytest.raises(ValueError, match="at least 1 worker"):
        Precompiler(task, platform="cpu", config=CONFIG, workdir=tmp_path, workers=0)


class _PrefetchingJudge(FakeJudge):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def prefetch(self, source: str, *, candidate_id: str) -> None:
        self.events.append(f"prefetch {candidate_id}")

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        self.events.append(f"evaluate {candidate_id}")
        return super().evaluate(source, candidate_id=candidate_id)


def test_the_controller_prefetches_every_node_before_evaluating_it(tmp_path: Path):
    archive = Archive(tmp_path / "run", "r1", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="test")
    judge = _PrefetchingJudge()
    Controller(config=SearchConfig(concurrency=3, max_steps=8, stall=0), policy=GreedyPolicy(),
               operator=FakeOperator(), judge=judge, archive=archive, seed=1).run()
    evaluated = [e.split()[1] for e in judge.events if e.startswith("evaluate")]
    assert len(evaluated) == len(set(evaluated)) == 8
    for node in evaluated:
        assert judge.events.index(f"prefetch {node}") < judge.events.index(f"evaluate {node}")


class _QueuedPrecompiler(_RecordingPrecompiler):
    """A compile no worker has started yet: its future is pending (cancellable)."""

    def submit(self, candidate_id: str, source: str):  # noqa: ANN201 - a Future, as Precompiler.submit
        self.events.append(f"submit {candidate_id}")
        self.pending = getattr(self, "pending", None) or self._future()
        return self.pending


def test_a_compile_still_queued_is_cancelled_not_waited_for_when_the_judge_is_free():
    events: list[str] = []
    precompiler = _QueuedPrecompiler(PrecompileStatus.OK, events)
    pipeline = EvalPipeline(_RecordingJudge(events), precompiler)  # type: ignore[arg-type]
    pipeline.prefetch("src", candidate_id="c1")
    result = pipeline.evaluate("src", candidate_id="c1")  # waiting would sit out the pool timeout, then miss
    assert result.ok and "judge c1" in events and precompiler.pending.cancelled()
    assert pipeline.stats()["precompile_misses"] == 1.0 and pipeline.stats()["precompile_hits"] == 0.0


class _StuckPrecompiler(_RecordingPrecompiler):
    """Every compile has started in a worker and never finishes (a block that ptxas unrolls for minutes): its
    future is running, so it cannot be cancelled, and the pool's own timeout is an hour away."""

    def __init__(self, events: list[str]) -> None:
        super().__init__(PrecompileStatus.OK, events)
        self.config = dataclasses.replace(CONFIG, timeout_s=3600.0)
        self.futures: dict[str, object] = {}

    def submit(self, candidate_id: str, source: str):  # noqa: ANN201 - a Future, as Precompiler.submit
        if candidate_id not in self.futures:
            future = self._future()
            future.set_running_or_notify_cancel()
            self.futures[candidate_id] = future
        return self.futures[candidate_id]


class _BusyJudge(_RecordingJudge):
    """Every judge is busy, so a candidate waits for its compile instead of compiling on a judge."""

    def idle(self) -> int:
        return 0


def _evaluate_in_thread(pipeline: EvalPipeline, candidate_id: str) -> tuple[Any, dict[str, BaseException]]:
    import threading

    raised: dict[str, BaseException] = {}

    def run() -> None:
        try:
            pipeline.evaluate("src", candidate_id=candidate_id)
        except BaseException as exc:  # noqa: BLE001 - the test inspects what evaluate raised
            raised["exc"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, raised


def test_a_candidate_waiting_for_its_compile_is_given_back_unjudged_when_withdrawn():
    from kernelevolve.eval.protocols import Withdrawing, Withdrawn

    events: list[str] = []
    pipeline = EvalPipeline(_BusyJudge(events), _StuckPrecompiler(events))  # type: ignore[arg-type]
    assert isinstance(pipeline, Withdrawing)
    thread, raised = _evaluate_in_thread(pipeline, "c1")
    for _ in range(RESULT_S * 1000):  # c1 waits for its compile (bounded: a failing evaluate never submits)
        if pipeline.precompiler.futures or not thread.is_alive():  # type: ignore[attr-defined]
            break
        time.sleep(0.001)
    pipeline.withdraw_waiting()
    thread.join(RESULT_S)  # a hang guard: without the withdrawal it waits out the pool's hour
    assert not thread.is_alive(), "the waiting candidate was not given back"
    assert isinstance(raised.get("exc"), Withdrawn)
    assert "judge c1" not in events and "forget c1" in events
    with pytest.raises(Withdrawn):  # and a candidate that comes later never reaches a judge either
        pipeline.evaluate("src", candidate_id="c2")
    assert "judge c2" not in events


def test_a_wall_clock_stop_gives_back_candidates_stuck_in_their_compile(tmp_path: Path):
    import threading

    from kernelevolve.core.types import NodeState
    from kernelevolve.search.termination import StopReason

    events: list[str] = []
    pipeline = EvalPipeline(_BusyJudge(events), _StuckPrecompiler(events))  # type: ignore[arg-type]
    archive = Archive(tmp_path / "run", "r1", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="test")
    controller = Controller(config=SearchConfig(concurrency=3, max_steps=50, stall=0, max_wall_s=0.5),
                            policy=GreedyPolicy(), operator=FakeOperator(), judge=pipeline, archive=archive, seed=1)
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(result=controller.run()), daemon=True)
    thread.start()
    thread.join(RESULT_S)  # a hang guard: before the fix the stop waited for compiles that never end
    assert not thread.is_alive(), "the wall-clock stop waited for candidates that never reached a judge"
    result = outcome["result"]
    assert result.stop_reason is StopReason.WALL_CLOCK
    assert not [e for e in events if e.startswith("judge")], "no stuck candidate was judged"
    pending = {n.id for n in result.graph.nodes() if n.state is NodeState.PENDING}
    assert pending and {r["id"] for r in archive.meta.nodes("r1") if r["state"] == "pending"} == pending
    assert result.progress.evaluated == 0, "a given-back candidate is not a verdict"
