"""Rebuilds a resumed run's bandit ensemble from the run's recorded LLM calls and verdicts.

The arm statistics are not stored twice (ensemble.py says why): a pick is a call row (a root's draft is
one too); a reward is (model, child score - parent score, cost) per evaluated child, in evaluation order.
A call that raised is recorded under the member that failed, so its pick counts too. Children proposed
before the interruption but not yet evaluated are owed their reward: `OwedRewards.settle` pays each
once its verdict arrives. The rows are the run store's (store/sqlite.py `nodes` and `llm_calls`), read
by the caller: this package never imports the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from kernelevolve.llm.ensemble import EnsembleClient


@dataclasses.dataclass(kw_only=True)
class OwedRewards:
    """The rewards a resumed ensemble still owes, by child node id: (member, parent score, cost_usd)."""

    client: EnsembleClient
    owed: dict[int, tuple[str, float, float]]

    def settle(self, node_id: int, score: float) -> None:
        """Gives the member that wrote `node_id` its reward, once, if that child was owed one."""
        if node_id in self.owed:
            model, parent_score, cost = self.owed.pop(node_id)
            self.client.feedback(model, score - parent_score, cost)


def restore_ensemble(client: EnsembleClient, nodes: Sequence[dict[str, Any]],
                     calls: Sequence[dict[str, Any]]) -> OwedRewards:
    """Replays a run's picks and rewards into `client`; returns the rewards still owed to pending children."""
    by_id = {row["id"]: row for row in nodes}
    picks: list[str] = []
    proposals: dict[int, tuple[str, float, float]] = {}  # child id -> (model, parent score, cost)
    for call in calls:
        picks.append(call["model"])
        if call["node_id"] is not None and by_id[call["node_id"]]["parent_id"] is not None:  # a root's draft: no parent
            parent = by_id[by_id[call["node_id"]]["parent_id"]]
            proposals[call["node_id"]] = (call["model"], parent["score"], call["cost_usd"])
    done = sorted((by_id[i]["eval_seq"], i) for i in proposals if by_id[i]["state"] == "evaluated")
    client.restore(picks, [(proposals[i][0], by_id[i]["score"] - proposals[i][1], proposals[i][2]) for _, i in done])
    return OwedRewards(client=client, owed={i: p for i, p in proposals.items() if by_id[i]["state"] != "evaluated"})
