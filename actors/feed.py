"""Keeping N evaluators fed, and saying what limits a run's throughput. Plain Python, no Ray: the controller
actor (actors/controller.py) feeds it what its pools see.

Feeding. The core Controller keeps `search.concurrency` items (expansions + evaluations) in flight. With
N evaluators of `eval_batch` slots each, fewer than N x eval_batch items leaves GPUs idle however fast the
operator is, and exactly that many leaves a slot idle for a whole expansion each time a verdict comes back.
So on Ray the in-flight target grows with the fleet: every evaluation slot gets `expansions_per_slot`
expansions in flight behind it (Little's law: enough when it is at least expansion time / evaluation time),
and the expanders grow to hold them. The configured values stay as floors. The plan (plan_feed) lives in
kernelevolve/feed.py: a cluster=local search raises its in-flight count by the same rule.

Diagnosis. Both pools' loads are integrated over a sliding window (kernelevolve/feed.py's FeedMeter). Evaluation slots idle while
expansions are running means the evaluators wait for candidates: the operator (LLM or offline mutator) is
the bottleneck, not the GPUs; slots busy means the evaluators are; slots idle with nothing being expanded
wait for nothing (the end of the budget). `diagnose` says which, with the numbers and the knob that helps.
"""

from __future__ import annotations

import dataclasses
import enum

from kernelevolve.feed import FeedPlan, Reading, plan_feed  # noqa: F401 - re-exported: the plan is shared with cluster=local

IDLE_OPERATOR = 0.25  # evaluation slots idle >= 25% of the window while expansions run: the operator limits
SATURATED = 0.9  # a pool busy >= 90% of its capacity is saturated
MIN_EVIDENCE_S = 2.0  # no verdict on less than 2 s of observation, or before the first evaluation finished


class Limit(enum.StrEnum):
    """What limits a run's throughput now."""

    UNKNOWN = "unknown"  # too early to say
    OPERATOR = "operator"  # evaluators wait for candidates being expanded: the LLM / offline operator is too slow
    EVALUATORS = "evaluators"  # the evaluation slots are busy: the GPUs (the judge) set the pace
    IDLE = "idle"  # evaluators idle with nothing being expanded: the budget is committed, or no parent to expand


@dataclasses.dataclass(frozen=True, kw_only=True)
class Diagnosis:
    """The verdict on a run's pipeline, and the line the live status shows."""

    limit: Limit
    line: str


def diagnose(r: Reading, *, expand_slots: int) -> Diagnosis:
    """Returns what limits the run: the operator when evaluation slots idle while expansions run, the
    evaluators when their slots are busy; the line names the numbers and what to raise."""
    if r.observed_s < MIN_EVIDENCE_S or r.eval_calls == 0:
        return Diagnosis(limit=Limit.UNKNOWN, line="")
    if r.starved >= IDLE_OPERATOR:
        pace = ""
        if r.expand_call_s is not None and r.eval_call_s:
            pace = f"; an expansion takes {r.expand_call_s:.1f}s, an evaluation {r.eval_call_s:.1f}s"
        if r.expand_busy >= SATURATED:
            advice = (f"all {expand_slots} expansion slots are busy: raise cluster.expanders or "
                      "cluster.expander_concurrency (an LLM client lets llm.openai.max_concurrency calls through)")
        else:
            advice = "raise cluster.expansions_per_slot (or search.concurrency) to keep more candidates coming"
        return Diagnosis(limit=Limit.OPERATOR, line=f"operator-bound: evaluators idle {r.starved:.0%} waiting "
                                                    f"for candidates{pace}; {advice}")
    if 1.0 - r.eval_busy < IDLE_OPERATOR:
        return Diagnosis(limit=Limit.EVALUATORS, line=f"GPU-bound: evaluation slots {r.eval_busy:.0%} busy")
    return Diagnosis(limit=Limit.IDLE, line=f"evaluators idle {1.0 - r.eval_busy:.0%} with nothing being expanded "
                                            "(the step budget is committed, or the policy has no parent to expand)")
