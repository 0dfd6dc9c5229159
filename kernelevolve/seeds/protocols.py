"""Interfaces of the seeds package: what a search's root comes back as (RootOutcome), what the controller asks of
an operator that supplies one (RootSource), what the chain's LLM step needs (Drafter), and what wrap.py hands the
renderer (Parts)."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

from kernelevolve.core.types import Candidate
from kernelevolve.operator.expansion import Expansion


@dataclasses.dataclass(frozen=True, kw_only=True)
class RootOutcome:
    """The root the chain found, with the LLM calls spent on it and, for a failed draft, why it failed.

    Attributes:
        candidate: the root; for a failed draft, the model's last answer (empty when no call answered).
        llm_calls: call records of the draft (stored with the root node and charged to the budget).
        failure: why the draft failed (the root is then recorded as a failed node, never judged), or None.
    """

    candidate: Candidate
    llm_calls: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    failure: str | None = None


@runtime_checkable
class RootSource(Protocol):
    """An operator whose root comes with its LLM calls and a possible failure (the controller records both)."""

    def root_outcome(self) -> RootOutcome:
        """Returns the root of a new run."""
        ...


@runtime_checkable
class Drafter(Protocol):
    """What the chain's last step needs of the LLM operator."""

    def draft(self, *, seed: int) -> Expansion:
        """Returns a drafted first kernel or why there is none, with its call records."""
        ...


class Parts(Protocol):
    """What wrap.py rendered per kernel and shape (render.render_module's input)."""

    tunables: list[str]
    space: dict[str, tuple[int, ...]]
    launchers: list[str]
    calls: list[str]
