"""The evaluator's side of an evaluation: the referee's judgement decides, a worker cannot skip it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from kernelevolve.core.types import EvalResult, EvalStatus, ShapeTiming
from kernelevolve.eval.conversation import Conversation, RefereeFailed, Verdict
from kernelevolve.eval.sandbox import Reply, ReplyKind
from kernelevolve.eval.wire.messages import EvalJob

JOB = EvalJob(candidate_id="c", source="", shapes=["a", "b"], heldout=["h"], seeds=[1, 2], extra_seed=3,
              extra_distribution=True, timing=True, baseline="eager", profile=False, warmup_ms=1.0, rep_ms=1.0, reps=1,
              flush_mb=0.0, min_triton_fraction=0.5, suspicious_speedup=10.0, error_chars=500, timing_seed=4,
              baseline_refresh=0, baseline_probe_tolerance=0.05, slower_margin=0.05, case_memory_fraction=0.0)


def _verdict(ended: Verdict | Reply) -> EvalResult:
    assert isinstance(ended, Verdict), f"the conversation ended without a verdict: {ended}"
    return ended.result


def _result(status: EvalStatus = EvalStatus.OK, speedups: tuple[float, ...] = (), **extra: Any) -> dict:
    timings = [ShapeTiming(shape=s, candidate_ms=1.0, candidate_iqr_ms=0.0, baseline_ms=x, baseline_iqr_ms=0.0)
               for s, x in zip(("a", "b"), speedups, strict=False)]
    return EvalResult(status=status, timings=timings, reason="r", **extra).to_dict()


def _reply(phase: str, result: dict, **payload: Any) -> Reply:
    return Reply(kind=ReplyKind.RESULT, payload={"phase": phase, "result": result, "outputs": [{"case": 0}],
                                                 "recycle": False, **payload})


class Party:
    """A scripted worker or referee: answers requests in order and records them."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.sent: list[dict[str, Any]] = []
        self.tmpdir = Path("/nonexistent")
        self.killed = False

    def request(self, message: dict[str, Any], timeout_s: float) -> Reply:
        return self.collect(self.post(message), timeout_s)

    def post(self, message: dict[str, Any]) -> str:
        self.sent.append(message)
        return f"nonce{len(self.sent)}"

    def collect(self, nonce: str, timeout_s: float) -> Reply:
        return self.replies.pop(0)

    def kill(self) -> None:
        self.killed = True

    def log_tail(self) -> str:
        return "referee log"


PREPARED = Reply(kind=ReplyKind.RESULT, payload={"result": {"cases": 9, "expected": {"a": [[[2], "float32"]]}}})
FIRST_PREPARED = Reply(kind=ReplyKind.RESULT, payload={"result": {"cases": 1, "expected": {"a": [[[2], "float32"]]}}})
OK = Reply(kind=ReplyKind.RESULT, payload={"result": _result()})
FIRST = [FIRST_PREPARED, OK]  # the referee prepares and judges the first case before any other is built
FIRST_OK = _reply("first", _result())


def _talk(worker: Party, referee: Party, suspicious: float = 10.0) -> Conversation:
    return Conversation(worker=worker, referee=referee, timeout_s=60, referee_timeout_s=60,  # type: ignore[arg-type]
                        suspicious_speedup=suspicious, interpreter=False, file_exchange=False)


def test_a_correct_candidate_is_timed_and_gets_fitness_from_its_timings():
    worker = Party([FIRST_OK, _reply("checked", _result()), _reply("timed", _result(speedups=(2.0, 8.0))),
                    _reply("final", _result(speedups=(2.0, 8.0)))])
    referee = Party([*FIRST, PREPARED, OK, OK])
    final = _talk(worker, referee).run(dataclasses.replace(JOB, best_ms={"a": 0.5}))
    result = _verdict(final)
    assert result.ok and result.fitness == pytest.approx(4.0)
    assert [m.get("phase") for m in worker.sent] == [None, "check", "time", "finish"]
    assert worker.sent[2]["expected"] == {"a": [[[2], "float32"]]} and worker.sent[2]["best_ms"] == {"a": 0.5}
    assert referee.sent[0]["stop"] == 1 and referee.sent[2]["start"] == 1 and referee.sent[2]["append"]
    assert referee.sent[3]["require"] == "all" and referee.sent[3]["min_case"] == 1
    assert referee.sent[4]["shapes"] == ["a", "b"]
    assert {"phase.first_case_s", "phase.check_s", "phase.timing_s", "phase.judge_s"} <= set(result.metrics)


def test_a_wrong_first_case_ends_the_evaluation_before_any_other_case_is_prepared_or_built():
    mismatch = _result(EvalStatus.INCORRECT)
    worker = Party([FIRST_OK, _reply("final", _result(), recycle=False)])
    referee = Party([FIRST_PREPARED, Reply(kind=ReplyKind.RESULT, payload={"result": mismatch})])
    final = _talk(worker, referee).run(JOB)
    assert _verdict(final).status is EvalStatus.INCORRECT
    assert [m.get("phase") for m in worker.sent] == [None, "abort"]
    assert [m.get("phase") for m in referee.sent] == ["prepare", "judge"] and referee.sent[0]["stop"] == 1


def test_a_rejected_verdict_counts_the_referees_phases_once():
    mismatch = EvalResult(status=EvalStatus.INCORRECT, reason="r", metrics={"phase.referee.compare_s": 0.25,
                                                                             "gpu_busy_s": 0.5}).to_dict()
    worker_final = _result(metrics={"phase.worker.first_case_s": 1.0, "gpu_busy_s": 0.125})
    worker = Party([FIRST_OK, _reply("final", worker_final)])
    referee = Party([FIRST_PREPARED, Reply(kind=ReplyKind.RESULT, payload={"result": mismatch})])
    result = _verdict(_talk(worker, referee).run(JOB))
    assert result.metrics["phase.referee.compare_s"] == 0.25 and result.metrics["phase.worker.first_case_s"] == 1.0
    assert result.metrics["gpu_busy_s"] == 0.625  # the referee's and the worker's device time, each once


def test_the_referees_verdict_stops_the_worker():
    mismatch = _result(EvalStatus.INCORRECT)
    worker = Party([FIRST_OK, _reply("checked", _result()), _reply("final", _result(), recycle=True)])
    referee = Party([*FIRST, PREPARED, Reply(kind=ReplyKind.RESULT, payload={"result": mismatch})])
    final = _talk(worker, referee).run(JOB)
    assert _verdict(final).status is EvalStatus.INCORRECT
    assert worker.sent[-1]["phase"] == "abort" and final.recycle is True


@pytest.mark.parametrize("phase", ["final", "timed"])
def test_a_worker_claiming_success_before_the_referee_judged_is_forged(phase):
    worker = Party([_reply(phase, _result(speedups=(9.0, 9.0)))])
    final = _talk(worker, Party([PREPARED])).run(JOB)
    assert final.kind is ReplyKind.FORGED


def test_a_worker_failure_is_the_verdict():
    crash = Reply(kind=ReplyKind.RESULT, payload={"phase": "final", "result": _result(EvalStatus.RUNTIME_ERROR)})
    final = _talk(Party([crash]), Party([PREPARED])).run(JOB)
    assert _verdict(final).status is EvalStatus.RUNTIME_ERROR


def test_a_suspicious_speedup_is_re_timed_on_fresh_inputs_and_the_lower_figure_kept():
    worker = Party([FIRST_OK, _reply("checked", _result()), _reply("timed", _result(speedups=(40.0, 40.0))),
                    _reply("timed", _result(speedups=(12.0, 12.0))), _reply("final", _result(speedups=(40.0, 40.0)))])
    referee = Party([*FIRST, PREPARED, OK, OK, OK])
    final = _talk(worker, referee).run(JOB)
    result = _verdict(final)
    assert result.fitness == pytest.approx(12.0) and result.metrics["flagged_for_review"] == 1.0
    assert [t.baseline_ms for t in result.timings] == [12.0, 12.0]  # the slower round's timings go with it
    assert "re-measured on fresh inputs" in result.reason
    assert worker.sent[3]["phase"] == "retime"
    # Nothing is prepared for it (every timed call draws fresh inputs): the referee's next request judges the
    # re-timing's own spot draws, by draw number, as it did the first round's.
    spot, again = referee.sent[4], referee.sent[5]
    assert again["kind"] == spot["kind"] and again.get("require") == spot.get("require") != "all"
    assert again["label"] == "re-measured on fresh inputs" and len(referee.sent) == 6


def test_a_referee_broken_by_the_manifest_is_the_candidates_integrity_violation():
    worker = Party([FIRST_OK, _reply("final", _result())])
    referee = Party([FIRST_PREPARED, Reply(kind=ReplyKind.DIED, detail="Traceback...\nRuntimeError: invalid handle")])
    final = _talk(worker, referee).run(JOB)
    result = _verdict(final)
    assert result.status is EvalStatus.INTEGRITY_VIOLATION and "invalid handle" in result.reason
    assert referee.killed


def test_a_referee_that_cannot_prepare_is_a_harness_failure():
    referee = Party([Reply(kind=ReplyKind.HARNESS_ERROR, detail="task reference raised")])
    with pytest.raises(RefereeFailed, match="task reference raised"):
        _talk(Party([FIRST_OK]), referee).run(JOB)


def _timed(*timings: tuple[str, float, float]) -> dict:
    found = [ShapeTiming(shape=s, candidate_ms=c, candidate_iqr_ms=0.0, baseline_ms=b, baseline_iqr_ms=0.0)
             for s, c, b in timings]
    return EvalResult(status=EvalStatus.OK, timings=found, reason="r").to_dict()


@pytest.mark.parametrize("timings", [
    (("a", 1.0, 9.0),),  # the slow shape b left out: the geomean of the fast one alone
    (("a", 1.0, 9.0), ("a", 1.0, 9.0)),  # a fast shape counted twice instead of b
    (("a", 1.0, 9.0), ("b", 1.0, 2.0), ("zz", 1.0, 1e6)),  # a shape the job never timed
    (("a", 1.0, float("inf")), ("b", 1.0, 2.0)),
    (("a", float("nan"), 2.0), ("b", 1.0, 2.0)),
    (("a", -1.0, 2.0), ("b", -1.0, 2.0)),
    (("a", 1.0, 0.0), ("b", 1.0, 2.0)),  # a zero baseline time: no kernel runs in no time
    (("a", 0.0, 2.0), ("b", 1.0, 2.0)),  # a zero candidate time
])
def test_fitness_is_never_computed_from_a_timing_report_that_does_not_cover_the_jobs_shapes(timings):
    worker = Party([FIRST_OK, _reply("checked", _result()), _reply("timed", _timed(*timings)),
                    _reply("final", _result(), recycle=True)])
    final = _talk(worker, Party([*FIRST, PREPARED, OK, OK]), suspicious=1e9).run(JOB)
    result = _verdict(final)
    assert result.status is EvalStatus.INTEGRITY_VIOLATION and "timing report" in result.reason, result
    assert worker.sent[-1]["phase"] == "abort"


def _checking(through: Any) -> Reply:
    return _reply("checking", _result(metrics={"checked_through": through}))


def test_a_check_too_large_for_memory_is_judged_batch_by_batch():
    worker = Party([FIRST_OK, _checking(4.0), _checking(7.0), _reply("checked", _result()),
                    _reply("timed", _result(speedups=(2.0, 2.0))), _reply("final", _result(speedups=(2.0, 2.0)))])
    referee = Party([*FIRST, PREPARED, OK, OK, OK, OK])
    result = _verdict(_talk(worker, referee).run(JOB))
    assert result.ok and result.fitness == pytest.approx(2.0)
    assert [m.get("phase") for m in worker.sent] == [None, "check", "check", "check", "time", "finish"]
    judged = [(m.get("min_case"), m.get("max_case")) for m in referee.sent if m.get("phase") == "judge"]
    assert judged[1:4] == [(1, 4), (4, 7), (7, None)]  # every case after the first, each batch once, in order


def test_a_wrong_case_in_an_early_batch_stops_the_worker_before_the_next_batch():
    mismatch = Reply(kind=ReplyKind.RESULT, payload={"result": _result(EvalStatus.INCORRECT)})
    worker = Party([FIRST_OK, _checking(4.0), _reply("final", _result())])
    referee = Party([*FIRST, PREPARED, mismatch])
    result = _verdict(_talk(worker, referee).run(JOB))
    assert result.status is EvalStatus.INCORRECT
    assert [m.get("phase") for m in worker.sent] == [None, "check", "abort"]


@pytest.mark.parametrize("through", [1.0, 9.0, 12.0])
def test_a_batch_boundary_outside_the_unjudged_cases_is_an_integrity_violation(through):
    worker = Party([FIRST_OK, _checking(through), _reply("final", _result())])
    referee = Party([*FIRST, PREPARED])
    result = _verdict(_talk(worker, referee).run(JOB))
    assert result.status is EvalStatus.INTEGRITY_VIOLATION and "check batch" in result.reason
    assert [m.get("phase") for m in worker.sent] == [None, "check", "abort"]


@pytest.mark.parametrize("through", ["4", None, True])
def test_a_batch_boundary_that_is_no_number_is_a_forged_report(through):
    worker = Party([FIRST_OK, _checking(through), _reply("final", _result())])
    final = _talk(worker, Party([*FIRST, PREPARED])).run(JOB)
    assert isinstance(final, Reply) and final.kind is ReplyKind.FORGED and "checked_through" in final.detail
    assert [m.get("phase") for m in worker.sent] == [None, "check"]  # nothing more is asked of a forger


def _spread(shape: str, candidate_iqr: float, baseline_iqr: float | None) -> ShapeTiming:
    return ShapeTiming(shape=shape, candidate_ms=1.0, candidate_iqr_ms=candidate_iqr, baseline_ms=2.0,
                       baseline_iqr_ms=baseline_iqr)


@pytest.mark.parametrize(("timed", "words"), [
    (_timed(("a", 1.0, 2.0)), "the worker's timing report covers shapes ['a'], expected each of ['a', 'b'] once"),
    (EvalResult(status=EvalStatus.OK, timings=[_spread("a", float("inf"), 0.0), _spread("b", 0.0, 0.0)]).to_dict(),
     "holds an impossible time for shape a"),
    (EvalResult(status=EvalStatus.OK, timings=[_spread("a", 0.0, float("nan")), _spread("b", 0.0, 0.0)]).to_dict(),
     "holds an impossible time for shape a"),
])
def test_a_bad_timing_report_is_refused_with_what_is_wrong(timed: dict, words: str):
    worker = Party([FIRST_OK, _reply("checked", _result()), _reply("timed", timed), _reply("final", _result())])
    final = _talk(worker, Party([*FIRST, PREPARED, OK, OK]), suspicious=1e9).run(JOB)
    result = _verdict(final)
    assert result.status is EvalStatus.INTEGRITY_VIOLATION and words in result.reason, result.reason


@pytest.mark.parametrize("timed", [{"status": "ok", "timings": "not a list"}, {"status": "no such status"},
                                   {"timings": []}])
def test_a_malformed_report_is_forged_and_says_what_is_wrong(timed: dict):
    worker = Party([FIRST_OK, _reply("checked", _result()), _reply("timed", timed), _reply("final", _result())])
    final = _talk(worker, Party([*FIRST, PREPARED, OK, OK]), suspicious=1e9).run(JOB)
    assert isinstance(final, Reply) and final.kind is ReplyKind.FORGED
    assert "the worker's report is malformed (WorkerReport.result is not a verdict" in final.detail, final.detail


def test_a_timing_report_without_baselines_is_accepted_with_no_fitness():
    timed = EvalResult(status=EvalStatus.OK, timings=[
        ShapeTiming(shape=s, candidate_ms=1.0, candidate_iqr_ms=0.0, baseline_ms=None, baseline_iqr_ms=None)
        for s in ("a", "b")]).to_dict()
    worker = Party([FIRST_OK, _reply("checked", _result()), _reply("timed", timed), _reply("final", _result())])
    final = _talk(worker, Party([*FIRST, PREPARED, OK, OK, OK]), suspicious=1e9).run(JOB)
    result = _verdict(final)
    assert result.ok and result.fitness == 0.0, result.reason


class RecordingGate:
    """A device gate that notes how it is held when each party is asked something, and pretends to wait."""

    def __init__(self, wait_s: float = 0.0) -> None:
        self.held: str | None = None
        self.wait_s = wait_s
        self.waited_s = 0.0

    def _hold(self, mode: str):  # noqa: ANN202
        import contextlib

        @contextlib.contextmanager
        def held():  # noqa: ANN202
            assert self.held is None, "the gate does not nest"
            self.waited_s += self.wait_s
            self.held = mode
            try:
                yield self.wait_s
            finally:
                self.held = None
        return held()

    def shared(self):  # noqa: ANN201
        return self._hold("shared")

    def exclusive(self):  # noqa: ANN201
        return self._hold("exclusive")

    def close(self) -> None:
        return None


class GatedParty(Party):
    def __init__(self, replies: list[Reply], gate: RecordingGate) -> None:
        super().__init__(replies)
        self.gate = gate
        self.modes: list[tuple[str | None, str | None]] = []  # (phase asked, gate held)
        self.timeouts: list[float] = []

    def post(self, message: dict[str, Any]) -> str:
        self.modes.append((message.get("phase"), self.gate.held))
        return super().post(message)

    def request(self, message: dict[str, Any], timeout_s: float) -> Reply:
        self.timeouts.append(timeout_s)
        return super().request(message, timeout_s)


def test_timing_holds_the_device_alone_and_every_check_holds_it_shared():
    gate = RecordingGate()
    worker = GatedParty([FIRST_OK, _reply("checked", _result()), _reply("timed", _result(speedups=(20.0, 20.0))),
                         _reply("timed", _result(speedups=(30.0, 30.0))), _reply("final", _result())], gate)
    referee = GatedParty([*FIRST, PREPARED, OK, OK, OK], gate)
    talk = Conversation(worker=worker, referee=referee, timeout_s=60, referee_timeout_s=60,  # type: ignore[arg-type]
                        suspicious_speedup=10.0, interpreter=False, file_exchange=False, gate=gate)  # type: ignore[arg-type]
    result = _verdict(talk.run(JOB))
    assert result.ok and result.metrics["flagged_for_review"] == 1.0  # re-timed: both timing rounds seen
    assert worker.modes == [(None, "shared"), ("check", "shared"), ("time", "exclusive"), ("retime", "exclusive"),
                            ("finish", None)]
    assert referee.modes == [("prepare", "shared"), ("judge", "shared"), ("prepare", "shared"),
                             ("judge", "shared"), ("judge", "shared"), ("judge", "shared")]


def test_waiting_for_the_device_is_its_own_phase_and_not_the_candidates_timeout():
    gate = RecordingGate(wait_s=100.0)  # every hold waited 100 s for other judges
    worker = GatedParty([FIRST_OK, _reply("checked", _result()), _reply("timed", _result(speedups=(2.0, 2.0))),
                         _reply("final", _result())], gate)
    referee = GatedParty([*FIRST, PREPARED, OK, OK], gate)
    talk = Conversation(worker=worker, referee=referee, timeout_s=60, referee_timeout_s=60,  # type: ignore[arg-type]
                        suspicious_speedup=10.0, interpreter=False, file_exchange=False, gate=gate)  # type: ignore[arg-type]
    result = _verdict(talk.run(JOB))
    assert result.ok
    holds = 5  # the first case, its judgement, the check, the timing, the timed outputs' judgement
    assert result.metrics["phase.gate_wait_s"] == pytest.approx(holds * 100.0)
    assert result.metrics["phase.timing_s"] < 50  # the wait was carved out of the phase it happened in
    assert min(worker.timeouts) > 60  # the candidate's 60 s were not spent waiting for the gate


@pytest.mark.parametrize("best_ms, best_fitness, retimed", [
    ({"a": 1.1, "b": 1.1}, 38.0, False),  # 40x, no faster than this judge's best time or fitness: not a jump
    ({"a": 1.1, "b": 1.3}, 38.0, True),  # b is 1.3x faster than the best there: a new record is re-timed
    ({"a": 1.1, "b": 1.1}, 30.0, True),  # the same times, but 1.33x the best fitness (a slow baseline round)
    ({"a": 1.1}, 38.0, True),  # b was never timed ok here
    ({}, 38.0, True),  # no best at all (the judge's first ok verdict, or early stopping off)
])
def test_only_a_suspicious_speedup_that_is_a_new_record_is_re_timed(best_ms, best_fitness, retimed):
    replies = [FIRST_OK, _reply("checked", _result()), _reply("timed", _result(speedups=(40.0, 40.0)))]
    replies += [_reply("timed", _result(speedups=(12.0, 12.0)))] if retimed else []
    worker = Party([*replies, _reply("final", _result(speedups=(40.0, 40.0)))])
    referee = Party([*FIRST, PREPARED, OK, OK, *([OK] if retimed else [])])
    result = _verdict(_talk(worker, referee).run(dataclasses.replace(JOB, best_ms=best_ms, best_fitness=best_fitness)))
    assert [m["phase"] for m in worker.sent[2:]] == (["time", "retime", "finish"] if retimed else ["time", "finish"])
    assert result.fitness == pytest.approx(12.0 if retimed else 40.0)
    assert ("flagged_for_review" in result.metrics) is retimed
