"""Backend resolution (`auto`) and client construction for every model-calling backend."""

from __future__ import annotations

import logging

import pytest

from kernelevolve.core.errors import ConfigError
from kernelevolve.llm.cache import CachingClient
from kernelevolve.llm.config import (
    CacheConfig,
    EndpointConfig,
    EnsembleConfig,
    EnsembleMember,
    LLMBackend,
    LLMConfig,
    ReplayConfig,
    ReplayMode,
)
from kernelevolve.llm.ensemble import EnsembleClient
from kernelevolve.llm.factory import build_client, resolve_backend
from kernelevolve.llm.replay import RecordingClient, ReplayClient


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_auto_without_endpoint_or_key_is_offline_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        assert resolve_backend(LLMConfig()) is LLMBackend.offline
    assert "offline" in caplog.text and "OPENAI_API_KEY" in caplog.text


def test_auto_with_a_key_is_openai(monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    with caplog.at_level(logging.WARNING):
        assert resolve_backend(LLMConfig()) is LLMBackend.openai
    assert "openai" in caplog.text and "sk-x" not in caplog.text


def test_auto_with_a_base_url_is_openai():
    llm = LLMConfig(openai=EndpointConfig(base_url="http://127.0.0.1:9/v1"))
    assert resolve_backend(llm) is LLMBackend.openai


def test_explicit_backend_is_kept():
    assert resolve_backend(LLMConfig(backend=LLMBackend.replay)) is LLMBackend.replay


def test_openai_backend_is_cached_under_the_configured_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    client = build_client(LLMConfig(backend=LLMBackend.openai, cache=CacheConfig(dir=str(tmp_path))))
    assert isinstance(client, CachingClient) and client.name == "gpt-4.1"


def test_openai_backend_without_key_fails_loudly():
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_client(LLMConfig(backend=LLMBackend.openai, cache=CacheConfig(enabled=False)))


def test_vllm_backend_needs_no_key_and_targets_the_serve_url():
    client = build_client(LLMConfig(backend=LLMBackend.vllm, cache=CacheConfig(enabled=False)))
    assert client.name == "qwen-coder"
    assert str(client._sdk.base_url).startswith("http://127.0.0.1:8000/llm-qwen-coder/v1")


def test_ensemble_members_inherit_transport_and_override_model(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    members = {"a": EnsembleMember(model="m1", price_out_per_mtok=1.0), "b": EnsembleMember(model="m2")}
    client = build_client(LLMConfig(backend=LLMBackend.ensemble, ensemble=EnsembleConfig(members=members),
                                    cache=CacheConfig(enabled=False), openai=EndpointConfig(timeout_s=3.0)))
    assert isinstance(client, EnsembleClient) and client.name == "ensemble(m1,m2)"
    endpoint = members["a"].endpoint(EndpointConfig(timeout_s=3.0))
    assert endpoint.timeout_s == 3.0 and endpoint.model == "m1" and endpoint.price_out_per_mtok == 1.0


def test_replay_and_record(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    path.write_text('{"response": "x"}\n')
    assert isinstance(build_client(LLMConfig(backend=LLMBackend.replay, replay=ReplayConfig(path=str(path)))),
                      ReplayClient)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    recording = build_client(LLMConfig(backend=LLMBackend.replay, cache=CacheConfig(enabled=False),
                                       replay=ReplayConfig(path=str(tmp_path / "new.jsonl"), mode=ReplayMode.record)))
    assert isinstance(recording, RecordingClient)


@pytest.mark.parametrize("backend", [LLMBackend.offline, LLMBackend.auto])
def test_offline_backends_build_no_client(backend):
    with pytest.raises(ConfigError):
        build_client(LLMConfig(backend=backend))


def test_replay_without_path_is_a_config_error():
    with pytest.raises(ConfigError, match="replay.path"):
        build_client(LLMConfig(backend=LLMBackend.replay))
