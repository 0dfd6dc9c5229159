"""Builds the configured LLM client (openai, vllm, ensemble, replay), wrapped in the response cache."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from kernelevolve.core.errors import ConfigError
from kernelevolve.llm.cache import CachingClient, ResponseCache, default_cache_dir
from kernelevolve.llm.config import EndpointConfig, LLMBackend, LLMConfig, ReplayMode
from kernelevolve.llm.ensemble import EnsembleClient
from kernelevolve.llm.openai_compat import OpenAIClient, resolve_api_key
from kernelevolve.llm.protocols import LLMClient
from kernelevolve.llm.replay import RecordingClient, ReplayClient
from kernelevolve.llm.vllm_serve import served_endpoint

logger = logging.getLogger(__name__)


def resolve_backend(llm: LLMConfig) -> LLMBackend:
    """Returns the concrete backend: `auto` is openai when a base_url or a key is configured, else offline."""
    if llm.backend is not LLMBackend.auto:
        return llm.backend
    if llm.openai.base_url or resolve_api_key(llm.openai):
        where = llm.openai.base_url or "api.openai.com"
        logger.warning("llm=auto: using the openai backend (model %s at %s)", llm.openai.model, where)
        return LLMBackend.openai
    logger.warning("llm=auto: no LLM endpoint or %s configured, using the offline operator", llm.openai.api_key_env)
    return LLMBackend.offline


def build_client(llm: LLMConfig, *, seed: int = 0) -> LLMClient:
    """Returns the client for a model-calling backend; raises ConfigError for offline/auto or a bad section."""
    backend = llm.backend
    if backend in (LLMBackend.openai, LLMBackend.vllm):
        endpoint = served_endpoint(llm) if backend is LLMBackend.vllm else llm.openai
        return _endpoint_client(endpoint, llm, seed=seed)
    if backend is LLMBackend.ensemble:
        members = [(_endpoint_client(m.endpoint(llm.openai), llm, seed=seed + i), m.weight)
                   for i, m in enumerate(llm.ensemble.members.values())]
        cfg = llm.ensemble
        return EnsembleClient(members, strategy=cfg.strategy, exploration=cfg.exploration,
                              min_cost_usd=cfg.min_cost_usd, seed=seed)
    if backend is LLMBackend.replay:
        if not llm.replay.path:
            raise ConfigError("llm.backend=replay needs llm.replay.path (a JSON-lines recording).")
        path = Path(llm.replay.path)
        if llm.replay.mode is ReplayMode.record:
            return RecordingClient(_endpoint_client(llm.openai, llm, seed=seed), path)
        return ReplayClient(path, match=llm.replay.match)
    raise ConfigError(f"llm.backend={backend} calls no model; resolve `auto` first and build offline without a client.")


def _endpoint_client(endpoint: EndpointConfig, llm: LLMConfig, *, seed: int) -> LLMClient:
    client: LLMClient = OpenAIClient(endpoint, seed=seed)
    if not llm.cache.enabled:
        return client
    directory = Path(llm.cache.dir) if llm.cache.dir else default_cache_dir()
    params = {k: v for k, v in dataclasses.asdict(endpoint).items()
              if k in ("model", "base_url", "temperature", "max_tokens")}
    return CachingClient(client, ResponseCache(directory), params)
