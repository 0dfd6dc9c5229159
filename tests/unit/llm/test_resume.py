"""llm/resume.py: a run's stored calls and verdicts become the bandit's picks and rewards, and the children
the interruption left pending are paid once, when their verdicts arrive."""

from __future__ import annotations

from typing import Any

from kernelevolve.llm.resume import restore_ensemble


class RecordingEnsemble:
    """Stands in for an EnsembleClient: keeps what restore and feedback were given."""

    def __init__(self) -> None:
        self.picks: list[str] = []
        self.rewards: list[tuple[str, float, float]] = []

    def restore(self, picks: Any, feedback: Any) -> None:
        self.picks, self.rewards = list(picks), list(feedback)

    def feedback(self, model: str, improvement: float, cost_usd: float) -> None:
        self.rewards.append((model, improvement, cost_usd))


def _node(i: int, parent: int | None, score: float, *, seq: int | None) -> dict[str, Any]:
    return {"id": i, "parent_id": parent, "score": score, "eval_seq": seq,
            "state": "evaluated" if seq is not None else "pending"}


NODES = [_node(0, None, 1.0, seq=0), _node(1, 0, 0.25, seq=2), _node(2, 0, 3.0, seq=1), _node(3, 2, 0.0, seq=None)]
CALLS = [{"model": "a", "node_id": 0, "cost_usd": 0.5},  # the root's draft: a pick, no reward
         {"model": "b", "node_id": 1, "cost_usd": 0.1},
         {"model": "a", "node_id": 2, "cost_usd": 0.2},
         {"model": "b", "node_id": None, "cost_usd": 0.3},  # a call that raised: a pick, no child
         {"model": "a", "node_id": 3, "cost_usd": 0.4}]


def test_picks_are_every_call_and_rewards_follow_the_evaluation_order():
    client = RecordingEnsemble()
    restore_ensemble(client, NODES, CALLS)  # type: ignore[arg-type]
    assert client.picks == ["a", "b", "a", "b", "a"]
    assert client.rewards == [("a", 2.0, 0.2), ("b", -0.75, 0.1)]  # node 2 (seq 1) before node 1 (seq 2)


def test_a_pending_child_is_paid_once_when_its_verdict_arrives():
    client = RecordingEnsemble()
    owed = restore_ensemble(client, NODES, CALLS)  # type: ignore[arg-type]
    assert owed.owed == {3: ("a", 3.0, 0.4)}
    owed.settle(1, 9.0)  # already rewarded before the interruption
    owed.settle(3, 3.5)
    owed.settle(3, 3.5)
    assert client.rewards[2:] == [("a", 0.5, 0.4)]
