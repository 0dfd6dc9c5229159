"""Expander actors: run the universal operator, many expansions at once; they never hold an accelerator.

An expander is an async actor: each expansion runs in a thread (operators make blocking LLM calls), up
to the actor's max_concurrency at once. A finished expansion is saved in the ledger under its request
key before it is returned, so a retry after a lost reply returns it instead of paying for it twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

import ray

from actors._logging import setup_actor_logging
from kernelevolve.core.types import Candidate
from kernelevolve.operator.expansion import Expansion, ExpansionRequest
from kernelevolve.operator.protocols import Operator
from kernelevolve.seeds.protocols import RootOutcome, RootSource

logger = logging.getLogger(__name__)


def expansion_key(request: ExpansionRequest) -> str:
    """Returns the ledger key of one expansion request (parent id + its seed identify it within a run)."""
    return f"expansion_{request.parent.id}_{request.seed}.json"


def dump_expansion(expansion: Expansion) -> bytes:
    """Returns the JSON form of an expansion, as the ledger keeps it."""
    return json.dumps(dataclasses.asdict(expansion)).encode()


def load_expansion(data: bytes) -> Expansion:
    """Returns the expansion that `dump_expansion` wrote."""
    raw = json.loads(data)
    candidate = Candidate(**raw["candidate"]) if raw["candidate"] is not None else None
    return Expansion(candidate=candidate, failure=raw["failure"], llm_calls=raw["llm_calls"])


def build_operator_for(config: Any, task_ref: str) -> Operator:
    """Returns the configured operator with the seed chain's root (the factory an ExpanderActor calls on its node)."""
    from kernelevolve.operator.factory import build_operator
    from kernelevolve.runner import resolve_platform, with_seed_chain
    from kernelevolve.tasks import load_task

    task = load_task(task_ref)
    platform = resolve_platform(config.platform.name)
    operator = build_operator(config.llm, config.operator, task, platform=platform)
    return with_seed_chain(operator, config, task, platform, eager=False)


@ray.remote(num_gpus=0, concurrency_groups={"control": 2})
class ExpanderActor:
    """Holds one operator; `expand` returns an Expansion (a failure value, never an exception)."""

    def __init__(self, name: str, factory: Callable[[], Operator], ledger: Any) -> None:
        setup_actor_logging()
        self._name, self._ledger = name, ledger
        self._operator = factory()

    @ray.method(concurrency_group="control")  # answers even when every work slot is taken
    async def ping(self) -> str:
        """Returns the actor's name once its operator is built."""
        return self._name

    async def seed(self) -> Candidate:
        """Returns the operator's starting candidate."""
        return await asyncio.to_thread(self._operator.seed)

    async def root_outcome(self) -> RootOutcome:
        """Returns the seed chain's root with the LLM calls a draft cost (a plain seed for other operators)."""
        if isinstance(self._operator, RootSource):
            return await asyncio.to_thread(self._operator.root_outcome)
        return RootOutcome(candidate=await asyncio.to_thread(self._operator.seed))

    async def expand(self, request: ExpansionRequest) -> Expansion:
        """Returns the expansion of `request` (the stored one if it was already done)."""
        key = expansion_key(request)
        saved = await self._ledger.load_work.remote(key)
        if saved is not None:
            logger.info("%s: %s already done; returning the stored expansion", self._name, key)
            return load_expansion(saved)
        try:
            expansion = await asyncio.to_thread(self._operator.expand, request)
        except Exception as exc:  # actor boundary: an operator bug is a failed expansion, not a dead actor
            logger.exception("%s: operator %s failed on parent=%d", self._name, self._operator.name, request.parent.id)
            return Expansion(candidate=None, failure=f"operator raised {type(exc).__name__}: {exc}")
        await self._ledger.save_work.remote(key, dump_expansion(expansion))
        return expansion
