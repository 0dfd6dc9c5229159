"""An OpenAI-compatible chat client (OpenAI, a vLLM server, Ray Serve LLM, others) with retries,
a concurrency cap, and token and cost accounting.

The openai SDK's own retries are off (max_retries=0): this module retries 429, 408/409, 5xx,
timeouts and connection errors with exponential backoff and jitter, and raises the typed
`RetryableLLMError` when they run out; any other status raises `NonRetryableLLMError` at once.
The key is read from the environment variable the config names and is never logged or stored.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from kernelevolve.core.errors import ConfigError, NonRetryableLLMError, RetryableLLMError
from kernelevolve.llm.config import EndpointConfig
from kernelevolve.llm.protocols import Completion, LLMRequest

if TYPE_CHECKING:  # the SDK is imported only when a model is called: offline runs never need it
    import openai

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({408, 409, 429})  # timeout, conflict, rate limit; plus every 5xx
_PLACEHOLDER_KEY = "unused"  # self-hosted servers accept any key, the SDK insists on one


def resolve_api_key(config: EndpointConfig) -> str | None:
    """Returns the key from the environment variable the config names, or None when it is unset."""
    return os.environ.get(config.api_key_env) or None


def call_cost(config: EndpointConfig, tokens_in: int, tokens_cached: int, tokens_out: int) -> float:
    """Returns the US-dollar cost of one call at the config's per-1M-token prices."""
    uncached = max(tokens_in - tokens_cached, 0)
    return (uncached * config.price_in_per_mtok + tokens_cached * config.price_cached_per_mtok
            + tokens_out * config.price_out_per_mtok) / 1e6


def classify(exc: openai.OpenAIError) -> RetryableLLMError | NonRetryableLLMError:
    """Returns the typed error for an SDK exception: retryable for 429/408/409/5xx/timeouts/network."""
    import openai

    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError is a subclass
        return RetryableLLMError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in _RETRYABLE_STATUS or status >= 500:
            return RetryableLLMError(f"HTTP {status} from the endpoint: {exc.message}")
        return NonRetryableLLMError(f"HTTP {status} from the endpoint (not retried): {exc.message}")
    return NonRetryableLLMError(f"{type(exc).__name__}: {exc}")


class OpenAIClient:
    """An `LLMClient` over one OpenAI-compatible endpoint."""

    def __init__(self, config: EndpointConfig, *, seed: int = 0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        key = resolve_api_key(config)
        if key is None and config.require_key:
            raise ConfigError(
                f"llm endpoint {config.base_url or 'api.openai.com'} needs a key: set the environment variable "
                f"{config.api_key_env} (llm.openai.api_key_env names it), or set llm.openai.require_key=false "
                "for a self-hosted server."
            )
        import openai

        self.config = config
        self.name = config.model
        self._sdk = openai.OpenAI(api_key=key or _PLACEHOLDER_KEY, base_url=config.base_url,
                                  timeout=config.timeout_s, max_retries=0)
        self._slots = threading.BoundedSemaphore(max(1, config.max_concurrency))
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()
        self._sleep = sleep

    def complete(self, request: LLMRequest) -> Completion:
        """Returns the endpoint's answer, retrying transient failures; raises a typed LLMError."""
        import openai

        start = time.monotonic()
        with self._slots:
            for attempt in range(1, self.config.max_retries + 2):
                try:
                    response = self._create(request)
                except openai.OpenAIError as exc:
                    error = classify(exc)
                    if isinstance(error, NonRetryableLLMError) or attempt > self.config.max_retries:
                        raise error from exc
                    wait = self._backoff(attempt)
                    logger.warning("llm model=%s attempt=%d failed (%s); retrying in %.2fs",
                                   self.name, attempt, error, wait)
                    self._sleep(wait)
                    continue
                return self._completion(response, attempts=attempt, latency_s=time.monotonic() - start)
        raise AssertionError("unreachable: the retry loop returns or raises")

    def _create(self, request: LLMRequest) -> openai.types.chat.ChatCompletion:
        messages = [{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}]
        extra = {} if request.seed is None else {"seed": request.seed}
        return self._sdk.chat.completions.create(model=self.config.model, messages=messages,  # type: ignore[arg-type]
                                                 temperature=self.config.temperature,
                                                 max_tokens=self.config.max_tokens, **extra)

    def _backoff(self, attempt: int) -> float:
        """Returns the wait before retry `attempt`: backoff_s * 2^(attempt-1), capped, with +-25% jitter."""
        with self._rng_lock:
            jitter = float(self._rng.uniform(0.75, 1.25))
        return min(self.config.backoff_s * 2 ** (attempt - 1), self.config.max_backoff_s) * jitter

    def _completion(self, response: openai.types.chat.ChatCompletion, *, attempts: int,
                    latency_s: float) -> Completion:
        text = (response.choices[0].message.content or "") if response.choices else ""
        usage = response.usage
        tokens_in = usage.prompt_tokens if usage else 0
        tokens_out = usage.completion_tokens if usage else 0
        details = usage.prompt_tokens_details if usage else None  # None on many servers (API_NOTES)
        tokens_cached = (details.cached_tokens or 0) if details is not None else 0
        return Completion(model=self.config.model, text=text, tokens_in=tokens_in,
                          tokens_out=tokens_out, tokens_cached=tokens_cached,
                          cost_usd=call_cost(self.config, tokens_in, tokens_cached, tokens_out),
                          latency_s=latency_s, attempts=attempts)
