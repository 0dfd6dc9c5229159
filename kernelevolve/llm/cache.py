"""The on-disk response cache: a repeated request (same model, endpoint, prompt, params and seed)
is answered from disk, so re-runs and resumed runs do not pay twice.

One JSON file per key (sha256 hex) under the cache directory, written atomically (temp file +
rename), so concurrent expanders and a killed run never leave a half-written entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from kernelevolve.llm.protocols import Completion, LLMClient, LLMRequest

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """Returns ~/.cache/kernelevolve/llm (XDG_CACHE_HOME respected)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kernelevolve" / "llm"


def request_key(request: LLMRequest, params: dict[str, Any]) -> str:
    """Returns the sha256 hex key of a request under the given model/sampling params."""
    blob = json.dumps({"params": params, "system": request.system, "prompt": request.prompt,
                       "seed": request.seed}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """Completions stored as <dir>/<key[:2]>/<key>.json."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        """Returns the stored completion, or None (also for an unreadable entry, which is logged)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return Completion(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as exc:
            logger.warning("ignoring unreadable llm cache entry %s: %s", path, exc)
            return None

    def put(self, key: str, completion: Completion) -> None:
        """Stores a completion atomically."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(dataclasses.asdict(completion), handle)
        os.replace(tmp, path)


class CachingClient:
    """Wraps an `LLMClient`: answers repeated requests from a `ResponseCache`.

    A hit is free: tokens and cost are reported as 0 with cache_hit True, so the token and dollar
    budgets count only what was really spent (a resumed run does not pay for its history twice).
    """

    def __init__(self, inner: LLMClient, cache: ResponseCache, params: dict[str, Any]) -> None:
        self.inner = inner
        self.name = inner.name
        self._cache = cache
        self._params = params

    def complete(self, request: LLMRequest) -> Completion:
        """Returns the cached completion for this request, or the inner client's (then cached)."""
        key = request_key(request, self._params)
        hit = self._cache.get(key)
        if hit is not None:
            logger.info("llm cache hit model=%s key=%s", hit.model, key[:12])
            return dataclasses.replace(hit, tokens_in=0, tokens_out=0, tokens_cached=0, cost_usd=0.0,
                                       latency_s=0.0, attempts=0, cache_hit=True)
        completion = self.inner.complete(request)
        self._cache.put(key, completion)
        return completion
