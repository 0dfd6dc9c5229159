"""The response cache: a repeated request is free, a different one is not, a corrupt entry is a miss."""

from __future__ import annotations

from kernelevolve.llm.cache import CachingClient, ResponseCache, request_key
from kernelevolve.llm.protocols import Completion, LLMClient, LLMRequest


class CountingClient:
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, request: LLMRequest) -> Completion:
        self.calls += 1
        return Completion(model="m", text=f"answer {self.calls}", tokens_in=100, tokens_out=10, cost_usd=0.5)


def _cached(tmp_path, params=None):
    inner = CountingClient()
    return inner, CachingClient(inner, ResponseCache(tmp_path), params or {"model": "m", "temperature": 0.7})


def test_repeat_is_served_from_disk_and_costs_nothing(tmp_path):
    inner, client = _cached(tmp_path)
    assert isinstance(client, LLMClient)
    req = LLMRequest(system="s", prompt="p", seed=1)
    first, second = client.complete(req), client.complete(req)
    assert inner.calls == 1
    assert second.text == first.text == "answer 1"
    assert second.cache_hit and second.cost_usd == 0.0 and second.tokens_in == 0
    assert not first.cache_hit and first.cost_usd == 0.5


def test_a_new_run_reuses_the_same_directory(tmp_path):
    req = LLMRequest(system="s", prompt="p", seed=1)
    _cached(tmp_path)[1].complete(req)
    inner, client = _cached(tmp_path)
    assert client.complete(req).cache_hit and inner.calls == 0


def test_seed_prompt_and_params_are_part_of_the_key():
    base = LLMRequest(system="s", prompt="p", seed=1)
    params = {"model": "m", "temperature": 0.7}
    keys = {request_key(base, params), request_key(LLMRequest(system="s", prompt="p", seed=2), params),
            request_key(LLMRequest(system="s", prompt="q", seed=1), params),
            request_key(base, {"model": "m", "temperature": 0.0}), request_key(base, {"model": "n", "temperature": 0.7})}
    assert len(keys) == 5


def test_corrupt_entry_is_a_miss_not_a_crash(tmp_path):
    inner, client = _cached(tmp_path)
    req = LLMRequest(system="s", prompt="p")
    client.complete(req)
    for path in tmp_path.rglob("*.json"):
        path.write_text("{not json")
    assert not client.complete(req).cache_hit and inner.calls == 2
