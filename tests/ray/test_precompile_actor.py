"""An evaluator actor compiles the next candidate on its CPUs while the device slot times the current one,
and never lets two candidates hold the slot at once (Ray on one node with a faked GPU)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import ray

from actors.evaluator import EvaluatorActor, FifoSlot
from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.eval.config import EvalConfig
from kernelevolve.eval.precompile_pool import EvalPipeline, Precompiler
from kernelevolve.tasks.loader import load_task
from tests.ray.conftest import WORKER_ENV

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
SEED = (ROOT / "knowledge_base" / "samples" / "conv1d" / "seed.py").read_text()
CONFIG = EvalConfig(timeout_s=30.0, worker_start_timeout_s=60.0)
WAIT = "for _ in range(1000):\n    if {needle!r} in open(LOG).read():\n        break\n    time.sleep(0.01)\n"


@ray.remote(num_cpus=0)
class _Ledger:
    def __init__(self) -> None:
        self.saved: dict[str, bytes] = {}

    def load_work(self, key: str) -> bytes | None:
        return self.saved.get(key)

    def save_work(self, key: str, data: bytes) -> None:
        self.saved[key] = data


class _LoggingJudge:
    """Holds the slot until the logs show what `waits_for` names (bounded); logs its start and end.

    Compile-only workers may write only their private dirs (the filesystem jail): their candidates log to
    `events.log` there, which the judge reads beside its own log.
    """

    def __init__(self, log: str, waits_for: dict[str, str], workdir: str) -> None:
        self.log, self.waits_for, self.workdir = log, waits_for, Path(workdir)

    def _text(self) -> str:
        return "".join(p.read_text() for p in [Path(self.log), *self.workdir.glob("worker_*/events.log")])

    def _write(self, line: str) -> None:
        with open(self.log, "a") as f:
            f.write(line + "\n")

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        self._write(f"judge_start {candidate_id}")
        needle, seen = self.waits_for.get(candidate_id), True
        if needle is not None:
            seen = any(needle in self._text() or time.sleep(0.01) for _ in range(1000))
        self._write(f"judge_end {candidate_id}")
        return EvalResult(status=EvalStatus.OK if seen else EvalStatus.INCORRECT, fitness=1.0, platform="cpu",
                          reason="saw the next compile" if seen else "no compile ran while the device was held")


def _pipeline(log: str, workdir: str) -> EvalPipeline:
    precompiler = Precompiler(load_task("conv1d"), platform="cpu", config=CONFIG, workdir=Path(workdir), workers=2)
    return EvalPipeline(_LoggingJudge(log, {"c0": "compiled c1"}, workdir), precompiler)


def _candidate(log: str, name: str, wait_for: str | None) -> str:
    """Returns a candidate logging to its private dir; it waits (bounded) for `wait_for` in the judge's log."""
    head = f"import time\nLOG = {log!r}\nopen('events.log', 'a').write('compile_start {name}\\n')\n"
    if wait_for is not None:
        head += WAIT.format(needle=wait_for)
    return head + f"open('events.log', 'a').write('compiled {name}\\n')\n" + SEED


@pytest.fixture(scope="module", autouse=True)
def ray_with_a_gpu():
    ray.init(num_cpus=4, num_gpus=1, namespace="kernelevolve", include_dashboard=False, runtime_env=WORKER_ENV,
             log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_the_next_compile_overlaps_the_current_timing_and_the_slot_is_never_shared(tmp_path: Path):
    log = str(tmp_path / "events.log")
    Path(log).touch()
    actor = EvaluatorActor.options(num_cpus=3, num_gpus=1, max_concurrency=4).remote(
        "evaluator-0@t", "t", lambda: _pipeline(log, str(tmp_path)), _Ledger.remote(), "cpu")
    first = actor.evaluate.remote("c0", _candidate(log, "c0", None))
    deadline = time.monotonic() + 120
    while "judge_start c0" not in Path(log).read_text():  # c0 holds the slot: now queue c1
        assert time.monotonic() < deadline and not ray.wait([first], timeout=0.01)[0], ray.get(first)
    second = actor.evaluate.remote("c1", _candidate(log, "c1", wait_for="judge_start c0"))
    (r0, fault0), (r1, fault1) = ray.get([first, second], timeout=120)
    assert not fault0 and not fault1
    assert r0.ok, r0.reason  # c0's timing saw c1 compile: the compile ran while the slot was held
    events = [line.split() for line in Path(log).read_text().splitlines()]
    judged = [(kind, cid) for kind, cid in events if kind.startswith("judge")]
    assert judged == [("judge_start", "c0"), ("judge_end", "c0"), ("judge_start", "c1"), ("judge_end", "c1")]
    stats = ray.get(actor.stats.remote())
    assert stats["precompile_hits"] == 2 and stats["evaluated"] == 2
    ray.get(actor.close.remote())
    ray.kill(actor)


def test_the_device_slot_is_granted_in_request_order():
    slot, order = FifoSlot(), []

    def take(name: str, ready: threading.Event) -> None:
        ready.set()
        with slot.hold():
            order.append(name)

    with slot.hold():
        threads = []
        for name in "abcde":
            ready = threading.Event()
            threads.append(threading.Thread(target=take, args=(name, ready)))
            threads[-1].start()
            ready.wait()
            while not slot._waiting or len(slot._waiting) < len(threads):  # this one is queued now
                time.sleep(0.001)
    for thread in threads:
        thread.join()
    assert order == list("abcde")


def _until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the slot"
        time.sleep(0.001)


def test_a_slot_of_two_permits_lets_two_judges_in_at_once_in_request_order():
    slot, entered = FifoSlot(2), []
    release = {name: threading.Event() for name in "abcd"}

    def take(name: str) -> None:
        with slot.hold():
            entered.append(name)
            release[name].wait(10)

    threads = []
    with slot.hold(), slot.hold():  # both permits taken: everyone queues
        for name in "abcd":
            threads.append(threading.Thread(target=take, args=(name,)))
            threads[-1].start()
            _until(lambda: len(slot._waiting) == len(threads))
        assert entered == []
    _until(lambda: len(entered) == 2)
    assert entered == ["a", "b"] and slot._held == 2, "two permits: the first two in line, no third"
    release["b"].set()
    _until(lambda: len(entered) == 3)
    assert entered[2] == "c" and slot._held == 2
    for name in "acd":
        release[name].set()
    for thread in threads:
        thread.join()
    assert entered == list("abcd") and slot._held == 0
    with pytest.raises(ValueError, match="at least one permit, got 0"):
        FifoSlot(0)


def test_an_evaluator_builds_k_judges_gated_on_the_gpu_it_sees(tmp_path, monkeypatch):
    from actors.evaluator import build_evaluator
    from kernelevolve.eval.judge_pool import JudgePool

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # what Ray sets for an actor holding GPU 3
    pool = build_evaluator("conv1d", "cpu", EvalConfig(judges_per_device=2, precompile_workers=0), str(tmp_path))
    try:
        assert isinstance(pool, JudgePool) and len(pool.judges) == 2
        assert {j.gate.key for j in pool.judges} == {"cpu-3"}, "both judges meet at GPU 3's gate"
        assert pool.judges[0].gate is not pool.judges[1].gate, "one gate handle per judge (flock per description)"
    finally:
        pool.close()
    single = build_evaluator("conv1d", "cpu", EvalConfig(precompile_workers=0), str(tmp_path))
    assert isinstance(single, JudgePool) and len(single.judges) == 1
    single.close()
