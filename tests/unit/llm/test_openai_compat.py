"""The OpenAI-compatible client against a local scripted server: retries, typed errors, accounting."""

from __future__ import annotations

import pytest

from kernelevolve.core.errors import ConfigError, NonRetryableLLMError, RetryableLLMError
from kernelevolve.llm.config import EndpointConfig
from kernelevolve.llm.openai_compat import OpenAIClient, call_cost
from kernelevolve.llm.protocols import LLMClient, LLMRequest
from tests.unit.llm.openai_server import ScriptedServer

REQUEST = LLMRequest(system="sys", prompt="make it fast", seed=7)


def _client(server: ScriptedServer, sleeps: list[float] | None = None, **overrides) -> OpenAIClient:
    fields = {"model": "test-model", "base_url": server.base_url, "api_key_env": "KE_TEST_KEY",
              "timeout_s": 10.0, "max_retries": 2, "backoff_s": 0.01, "price_in_per_mtok": 2.0,
              "price_cached_per_mtok": 0.5, "price_out_per_mtok": 8.0} | overrides
    return OpenAIClient(EndpointConfig(**fields), sleep=(sleeps.append if sleeps is not None else lambda s: None))


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("KE_TEST_KEY", "sk-test-secret")


def test_client_satisfies_the_protocol():
    with ScriptedServer([]) as server:
        assert isinstance(_client(server), LLMClient)


def test_answer_carries_tokens_cached_tokens_and_cost():
    usage = {"prompt_tokens": 1000, "completion_tokens": 200, "cached_tokens": 400}
    with ScriptedServer([{"text": "hello", "usage": usage}]) as server:
        out = _client(server).complete(REQUEST)
        body = server.requests[0]
    assert out.text == "hello" and out.model == "test-model" and out.attempts == 1
    assert (out.tokens_in, out.tokens_out, out.tokens_cached) == (1000, 200, 400)
    assert out.cost_usd == pytest.approx((600 * 2.0 + 400 * 0.5 + 200 * 8.0) / 1e6)
    assert body["seed"] == 7 and body["messages"][0] == {"role": "system", "content": "sys"}


def test_missing_prompt_token_details_count_as_zero_cached():
    with ScriptedServer([{"text": "x", "usage": {"prompt_tokens": 10, "completion_tokens": 1}}]) as server:
        assert _client(server).complete(REQUEST).tokens_cached == 0


def test_500_then_success_is_retried_with_growing_backoff():
    sleeps: list[float] = []
    with ScriptedServer([{"status": 500}, {"status": 503}, {"text": "ok"}]) as server:
        out = _client(server, sleeps).complete(REQUEST)
    assert out.text == "ok" and out.attempts == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0


def test_timeout_is_retried():
    with ScriptedServer([{"sleep": 3.0, "text": "late"}, {"text": "on time"}]) as server:
        out = _client(server, timeout_s=0.5).complete(REQUEST)
    assert out.text == "on time" and out.attempts == 2


def test_rate_limit_exhausting_retries_raises_retryable():
    with ScriptedServer([{"status": 429}] * 3) as server:
        with pytest.raises(RetryableLLMError, match="429"):
            _client(server).complete(REQUEST)
        assert len(server.requests) == 3  # first attempt + max_retries


def test_bad_request_is_not_retried():
    with ScriptedServer([{"status": 400}, {"text": "never"}]) as server:
        with pytest.raises(NonRetryableLLMError, match="400"):
            _client(server).complete(REQUEST)
        assert len(server.requests) == 1


def test_missing_key_is_a_config_error_naming_the_variable(monkeypatch):
    monkeypatch.delenv("KE_TEST_KEY")
    with ScriptedServer([]) as server, pytest.raises(ConfigError, match="KE_TEST_KEY"):
        _client(server)


def test_self_hosted_endpoint_needs_no_key(monkeypatch):
    monkeypatch.delenv("KE_TEST_KEY")
    with ScriptedServer([{"text": "ok"}]) as server:
        assert _client(server, require_key=False).complete(REQUEST).text == "ok"


def test_key_never_appears_in_the_record():
    with ScriptedServer([{"text": "ok"}]) as server:
        record = _client(server).complete(REQUEST).record(REQUEST)
    assert "sk-test-secret" not in repr(record)


def test_cost_of_fully_cached_prompt_uses_the_cached_price():
    cfg = EndpointConfig(price_in_per_mtok=10.0, price_cached_per_mtok=1.0, price_out_per_mtok=0.0)
    assert call_cost(cfg, tokens_in=1_000_000, tokens_cached=1_000_000, tokens_out=0) == pytest.approx(1.0)
