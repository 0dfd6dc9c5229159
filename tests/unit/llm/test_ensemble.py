"""Ensemble: weighted draws follow the weights; the bandit moves to the model with more improvement per dollar."""

from __future__ import annotations

import collections

import pytest

from kernelevolve.core.errors import ConfigError, RetryableLLMError
from kernelevolve.llm.config import EnsembleStrategy
from kernelevolve.llm.ensemble import EnsembleClient
from kernelevolve.llm.protocols import Completion, FeedbackReceiver, LLMClient, LLMRequest

REQ = LLMRequest(system="s", prompt="p")


class Named:
    def __init__(self, name: str) -> None:
        self.name = name

    def complete(self, request: LLMRequest) -> Completion:
        return Completion(model=self.name, text=self.name)


def test_weighted_draws_follow_the_weights():
    client = EnsembleClient([(Named("a"), 3.0), (Named("b"), 1.0), (Named("c"), 0.0)], seed=1)
    assert isinstance(client, LLMClient) and isinstance(client, FeedbackReceiver)
    counts = collections.Counter(client.complete(REQ).model for _ in range(2000))
    assert counts["c"] == 0
    assert 0.70 < counts["a"] / 2000 < 0.80


def test_bandit_tries_each_model_then_prefers_improvement_per_dollar():
    client = EnsembleClient([(Named("cheap"), 1.0), (Named("dear"), 1.0)], strategy=EnsembleStrategy.bandit,
                            exploration=0.2, seed=0)
    assert {client.choose(), client.choose()} == {"cheap", "dear"}
    for _ in range(200):
        name = client.choose()
        # same improvement, 10x the price; a negative improvement (worse child) earns 0, not a penalty
        client.feedback(name, 0.1 if name == "cheap" else -0.5, 0.001 if name == "cheap" else 0.01)
    picks = client.stats()
    assert picks["cheap"][0] > 4 * picks["dear"][0]
    assert picks["dear"][1] == 0.0


def test_feedback_for_an_unknown_model_is_ignored():
    client = EnsembleClient([(Named("a"), 1.0)], strategy=EnsembleStrategy.bandit)
    client.feedback("zzz", 1.0, 0.1)
    assert client.stats() == {"a": (0, 0.0)}


@pytest.mark.parametrize("members", [[], [(Named("a"), 1.0), (Named("a"), 1.0)], [(Named("a"), -1.0)]])
def test_bad_member_lists_are_config_errors(members):
    with pytest.raises(ConfigError):
        EnsembleClient(members)


def test_a_seeded_request_goes_to_the_same_model_whatever_came_before():
    def fresh():
        return EnsembleClient([(Named("a"), 1.0), (Named("b"), 1.0), (Named("c"), 1.0)], seed=5)

    warmed = fresh()
    for _ in range(17):  # a history a resumed run would not have
        warmed.complete(REQ)
    seeded = [LLMRequest(system="s", prompt="p", seed=s) for s in range(40)]
    assert [warmed.complete(r).model for r in seeded] == [fresh().complete(r).model for r in seeded]
    assert len({fresh().complete(r).model for r in seeded}) == 3, "seeds still spread over the members"


class Failing(Named):
    def complete(self, request: LLMRequest) -> Completion:
        raise RetryableLLMError(f"{self.name} timed out")


def test_a_failed_call_names_the_member_that_failed():
    """The call record (and so a resumed bandit's pick count) names the member, not the ensemble."""
    ensemble = EnsembleClient([(Failing("slow"), 1.0), (Named("fast"), 0.0)], strategy=EnsembleStrategy.weighted)
    with pytest.raises(RetryableLLMError) as raised:
        ensemble.complete(REQ)
    assert raised.value.model == "slow"
    assert ensemble.stats()["slow"][0] == 1 and ensemble.stats()["fast"][0] == 0
