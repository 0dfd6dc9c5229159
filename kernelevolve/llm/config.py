"""Configuration of the LLM backend (the `llm` config group)."""

from __future__ import annotations

import dataclasses
import enum


class LLMBackend(enum.StrEnum):
    """Which operator backend proposes candidates. auto: an LLM when one is configured, else offline."""

    auto = "auto"
    offline = "offline"


@dataclasses.dataclass(frozen=True, kw_only=True)
class LLMConfig:
    """Settings of the operator's model.

    Attributes:
        backend: the backend; `auto` picks offline when no endpoint or key is configured, and says so.
    """

    backend: LLMBackend = LLMBackend.auto
