"""actors/feed.py: how many candidates keep N evaluators fed, and saying whether the operator or the GPUs limit;
kernelevolve/feed.py: the meter both drivers read."""

from __future__ import annotations

import pytest

from actors.feed import Limit, diagnose, plan_feed
from kernelevolve.core.errors import ConfigError
from kernelevolve.feed import FeedMeter, Pool, Reading


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_in_flight_target_grows_with_the_evaluation_slots_and_the_expanders_with_it():
    one_gpu = plan_feed(eval_slots=2, concurrency=2, expanders=2, expander_concurrency=4, expansions_per_slot=1.0)
    four_gpus = plan_feed(eval_slots=8, concurrency=2, expanders=2, expander_concurrency=4, expansions_per_slot=1.0)
    assert (one_gpu.concurrency, one_gpu.expanders) == (4, 2)
    assert (four_gpus.concurrency, four_gpus.expanders) == (16, 2), "8 evaluating + 8 expanding on 2 x 4 slots"
    slow_llm = plan_feed(eval_slots=7, concurrency=2, expanders=1, expander_concurrency=4, expansions_per_slot=1.5)
    assert (slow_llm.concurrency, slow_llm.expanders) == (7 + 11, 3), "ceil(10.5) expansions need 3 expanders of 4"


def test_configured_values_are_floors_and_zero_per_slot_keeps_them():
    big = plan_feed(eval_slots=4, concurrency=40, expanders=2, expander_concurrency=4, expansions_per_slot=1.0)
    assert (big.concurrency, big.expanders) == (40, 9), "36 expansions may run at once: 9 expanders of 4"
    kept = plan_feed(eval_slots=8, concurrency=3, expanders=0, expander_concurrency=4, expansions_per_slot=0)
    assert (kept.concurrency, kept.expanders) == (3, 1)
    with pytest.raises(ConfigError, match=r"expansions_per_slot must be >= 0.*got -1"):
        plan_feed(eval_slots=8, concurrency=3, expanders=2, expander_concurrency=4, expansions_per_slot=-1)


def test_the_meter_integrates_overlapping_calls_exactly():
    clock = Clock()
    meter = FeedMeter(eval_slots=2, expand_slots=4, window_s=10.0, clock=clock)
    a = meter.begin(Pool.EVALUATORS)
    clock.t += 5
    b = meter.begin(Pool.EVALUATORS)
    clock.t += 5
    meter.end(Pool.EVALUATORS, a)
    meter.end(Pool.EVALUATORS, b)
    r = meter.reading()
    assert r.eval_busy == pytest.approx((10 + 5) / (10 * 2))
    assert (r.eval_call_s, r.eval_calls, r.evaluating) == (pytest.approx(7.5), 2, 0)
    assert (r.starved, r.expand_busy, r.expand_call_s) == (0.0, 0.0, None), "idle slots with nothing expanding"


def test_the_meter_forgets_what_left_the_window_and_counts_a_call_still_running():
    clock = Clock()
    meter = FeedMeter(eval_slots=2, expand_slots=1, window_s=10.0, clock=clock)
    meter.end(Pool.EVALUATORS, meter.begin(Pool.EVALUATORS))
    clock.t += 25
    running = meter.begin(Pool.EVALUATORS)
    clock.t += 3
    r = meter.reading()  # window [118, 128]: one of two slots busy for the last 3 s
    assert r.eval_busy == pytest.approx(3 / 20) and r.eval_calls == 0 and r.evaluating == 1
    clock.t += 12
    meter.end(Pool.EVALUATORS, running)
    assert meter.reading().eval_busy == pytest.approx(0.5), "busy for the whole window on one slot of two"
    assert meter.reading().eval_call_s == pytest.approx(15.0)


def test_only_slots_idle_while_an_expansion_runs_count_as_starved():
    clock = Clock()
    meter = FeedMeter(eval_slots=4, expand_slots=2, window_s=100.0, clock=clock)
    judging = meter.begin(Pool.EVALUATORS)
    clock.t += 2  # 3 slots idle, nothing expanding: waiting for nothing
    expanding = meter.begin(Pool.EXPANDERS)
    clock.t += 6  # 3 slots idle while an expansion runs
    meter.end(Pool.EXPANDERS, expanding)
    meter.end(Pool.EVALUATORS, judging)
    clock.t += 2
    r = meter.reading()
    assert r.starved == pytest.approx(3 * 6 / (4 * 10))
    assert r.eval_busy == pytest.approx(8 / 40) and r.expand_busy == pytest.approx(6 / 20)


def _pipeline(expand_s: float, eval_s: float, slots: int, rounds: int) -> Reading:
    """Simulates `slots` evaluation slots each fed by one expansion at a time, serially, on a fake clock."""
    clock = Clock()
    meter = FeedMeter(eval_slots=slots, expand_slots=2 * slots, clock=clock)
    for _ in range(rounds):
        started = [meter.begin(Pool.EXPANDERS) for _ in range(slots)]
        clock.t += expand_s
        for s in started:
            meter.end(Pool.EXPANDERS, s)
        started = [meter.begin(Pool.EVALUATORS) for _ in range(slots)]
        clock.t += eval_s
        for s in started:
            meter.end(Pool.EVALUATORS, s)
    for _ in range(slots):  # the next round's expansions are running now
        meter.begin(Pool.EXPANDERS)
    clock.t += expand_s / 2
    return meter.reading()


def test_evaluators_waiting_on_slow_expansions_name_the_operator_with_the_numbers():
    verdict = diagnose(_pipeline(expand_s=3.0, eval_s=1.0, slots=4, rounds=8), expand_slots=8)
    assert verdict.limit is Limit.OPERATOR
    # window [3.5, 33.5]: evaluations busy 0.5 s of round 0, then 1 s in each of rounds 1-7 -> 7.5 of 30 s
    assert "operator-bound: evaluators idle 75% waiting for candidates" in verdict.line
    assert "an expansion takes 3.0s, an evaluation 1.0s" in verdict.line
    assert "cluster.expansions_per_slot" in verdict.line
    assert diagnose(_pipeline(expand_s=0.2, eval_s=3.0, slots=4, rounds=12), expand_slots=8).limit \
        is Limit.EVALUATORS, "fast expansions: the slots are busy judging"


def _reading(**given: float) -> Reading:
    base = {"eval_busy": 0.4, "starved": 0.5, "expand_busy": 0.5, "eval_call_s": 1.0, "expand_call_s": 2.0,
            "eval_calls": 5, "evaluating": 2, "expanding": 3, "observed_s": 30.0}
    return Reading(**{**base, **given})


def test_saturated_expanders_advise_more_expanders_and_busy_slots_name_the_gpus():
    assert "raise cluster.expanders" in diagnose(_reading(expand_busy=0.95), expand_slots=8).line
    gpu_bound = diagnose(_reading(eval_busy=0.95, starved=0.05), expand_slots=8)
    assert (gpu_bound.limit, gpu_bound.line) == (Limit.EVALUATORS, "GPU-bound: evaluation slots 95% busy")
    assert diagnose(_reading(starved=0.25), expand_slots=8).limit is Limit.OPERATOR, "starved 25% is operator-bound"


def test_no_verdict_before_evidence_and_idle_slots_with_nothing_expanding_blame_no_one():
    assert diagnose(_reading(eval_calls=0), expand_slots=8).limit is Limit.UNKNOWN
    assert diagnose(_reading(observed_s=1.0), expand_slots=8).line == ""
    tail = diagnose(_reading(eval_busy=0.3, starved=0.1, expanding=0), expand_slots=8)
    assert tail.limit is Limit.IDLE and "idle 70% with nothing being expanded" in tail.line

