"""Replay and record: answers from a JSON-lines file, for tests and demos with no model.

Each line is one recorded answer: {"key": <prompt hash>, "model": ..., "response": ..., "tokens_in": ...,
"tokens_out": ..., "tokens_cached": ..., "cost_usd": ...}; only "response" is required. The key is
`prompt_hash(request)` (sha256 of system + prompt). With match=prompt, a request gets the answers
recorded under its key (several answers cycle in file order); with match=sequence, requests get the
file's answers in order, cycling, whatever they ask (demos whose prompts vary run to run).
`RecordingClient` wraps a live client and appends every answer to such a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from kernelevolve.core.errors import ConfigError, NonRetryableLLMError
from kernelevolve.llm.config import ReplayMatch
from kernelevolve.llm.protocols import Completion, LLMClient, LLMRequest

logger = logging.getLogger(__name__)


def prompt_hash(request: LLMRequest) -> str:
    """Returns the sha256 hex digest of a request's system message and prompt."""
    return hashlib.sha256(f"{request.system}\0{request.prompt}".encode()).hexdigest()


def _completion(entry: dict[str, Any], default_model: str) -> Completion:
    return Completion(model=str(entry.get("model", default_model)), text=str(entry["response"]),
                      tokens_in=int(entry.get("tokens_in", 0)), tokens_out=int(entry.get("tokens_out", 0)),
                      tokens_cached=int(entry.get("tokens_cached", 0)), cost_usd=float(entry.get("cost_usd", 0.0)))


def read_recording(path: Path) -> list[dict[str, Any]]:
    """Returns the entries of a recording; raises ConfigError naming the bad line."""
    if not path.is_file():
        raise ConfigError(f"no replay file at {path}; record one with llm.replay.mode=record or fix llm.replay.path.")
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON ({exc.msg}); each line is one recorded answer.") from exc
        if not isinstance(entry, dict) or "response" not in entry:
            raise ConfigError(f"{path}:{number}: expected an object with a \"response\" field.")
        entries.append(entry)
    if not entries:
        raise ConfigError(f"replay file {path} holds no answers.")
    return entries


class ReplayClient:
    """An `LLMClient` answering from a recording."""

    def __init__(self, path: Path, *, match: ReplayMatch = ReplayMatch.prompt, name: str = "replay") -> None:
        self.name = name
        self.path = Path(path)
        self._match = match
        self._entries = read_recording(self.path)
        self._by_key: dict[str, list[dict[str, Any]]] = {}
        for entry in self._entries:
            self._by_key.setdefault(str(entry.get("key", "")), []).append(entry)
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()

    def complete(self, request: LLMRequest) -> Completion:
        """Returns the recorded answer; raises NonRetryableLLMError when the prompt was never recorded."""
        key = prompt_hash(request) if self._match is ReplayMatch.prompt else ""
        answers = self._by_key.get(key) if self._match is ReplayMatch.prompt else self._entries
        if not answers:
            raise NonRetryableLLMError(
                f"no answer recorded for prompt hash {key[:16]} in {self.path}; the prompt changed since it was "
                "recorded: re-record with llm.replay.mode=record, or use llm.replay.match=sequence.")
        with self._lock:
            index = self._served.get(key, 0)
            self._served[key] = index + 1
        return _completion(answers[index % len(answers)], self.name)


class RecordingClient:
    """Wraps a live `LLMClient` and appends every answer to a recording file."""

    def __init__(self, inner: LLMClient, path: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = Path(path)
        self._lock = threading.Lock()

    def complete(self, request: LLMRequest) -> Completion:
        """Returns the inner client's answer after appending it to the file."""
        completion = self.inner.complete(request)
        entry = {"key": prompt_hash(request), "model": completion.model, "response": completion.text,
                 "tokens_in": completion.tokens_in, "tokens_out": completion.tokens_out,
                 "tokens_cached": completion.tokens_cached, "cost_usd": completion.cost_usd}
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as handle:
                handle.write(json.dumps(entry) + "\n")
        logger.info("recorded llm answer key=%s to %s", entry["key"][:12], self.path)
        return completion
