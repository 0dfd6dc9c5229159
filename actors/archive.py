"""The archive actor: the single writer of a run's metadata store and object store.

It also keeps the work ledger: each finished evaluation (keyed by candidate id) and expansion (keyed by
request) is saved here before its caller hears of it, so a retry after a lost reply finds the answer
in the store instead of doing the work twice. `ArchiveClient` gives the core Controller the
ArchiveWriter surface (store/protocols.py) it writes through.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError

from actors._logging import setup_actor_logging
from kernelevolve.core.errors import StoreError
from kernelevolve.core.types import EvalResult, Node
from kernelevolve.store.archive import Archive
from kernelevolve.store.config import StoreConfig
from kernelevolve.store.factory import build_object_store

logger = logging.getLogger(__name__)
RESTART_TIMEOUT_S = 120.0  # how long a write waits for a restarting archive actor before the error stands
RETRY_S = 0.5  # between two attempts while the actor restarts


@ray.remote(num_cpus=0, max_restarts=-1)
class ArchiveActor:
    """Holds one Archive; every metadata and object write of a ray run goes through this actor."""

    def __init__(self, run_dir: str, run_id: str, task: str, platform: str,
                 store: StoreConfig | None = None) -> None:
        setup_actor_logging()
        objects = None if store is None else build_object_store(store, Path(run_dir), run_id)
        self._archive = Archive(Path(run_dir), run_id, task=task, platform=platform, objects=objects)

    def ping(self) -> str:
        """Returns the run id once the archive is open."""
        return self._archive.run_id

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Returns the result of one Archive method (the core Archive's API is the contract, forwarded as is)."""
        return getattr(self._archive, method)(*args, **kwargs)

    def put_object(self, key: str, data: bytes) -> str:
        """Stores a run-level object (e.g. cluster_stats.json); returns its locator."""
        return self._archive.objects.put(key, data)

    def save_work(self, key: str, payload: bytes) -> None:
        """Records finished work (a verdict or an expansion) under its idempotency key."""
        self._archive.objects.put(f"work/{key}", payload)

    def load_work(self, key: str) -> bytes | None:
        """Returns finished work saved under `key`, or None."""
        try:
            return self._archive.objects.get(f"work/{key}")
        except StoreError:
            return None

    def close(self) -> None:
        """Closes the metadata DB (the driver kills the actor next)."""
        self._archive.close()


class ArchiveClient:
    """The archive the core Controller writes through (store/protocols.ArchiveWriter, method for method):
    each call is forwarded to the archive actor and returns once the actor has committed it (so the store
    stays ahead of the graph).

    The actor restarts when it dies (max_restarts=-1). A call it refuses while restarting, or one in flight
    when it died ("may or may not have been executed"), is sent again until `restart_timeout_s`: every write
    of the core Archive is idempotent, so a call that was committed before the reply was lost is not applied
    twice. Before this, one archive restart killed the controller, and with it the run.
    """

    def __init__(self, actor: Any, run_id: str, restart_timeout_s: float = RESTART_TIMEOUT_S) -> None:
        self.run_id = run_id
        self._actor = actor
        self._restart_timeout_s = restart_timeout_s

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self._restart_timeout_s
        while True:
            try:
                return ray.get(self._actor.call.remote(method, *args, **kwargs))
            except (ActorUnavailableError, ActorDiedError) as exc:
                if time.monotonic() >= deadline:
                    raise
                logger.warning("archive %s: %s; calling again once the archive actor is back", method,
                               type(exc).__name__)
                time.sleep(RETRY_S)

    def add_roots(self, nodes: list[Node]) -> None:
        """Stores the run's roots, all of them or none."""
        self._call("add_roots", nodes)

    def begin_expansion(self, *, step: int, parent_id: int, seed: int, inspirations: list[int]) -> None:
        """Commits an expansion step before the operator is called."""
        self._call("begin_expansion", step=step, parent_id=parent_id, seed=seed, inspirations=inspirations)

    def finish_expansion(self, *, step: int, node: Node | None, failure: str | None,
                         llm_calls: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Commits an expansion's node (or failure), its LLM calls and the budget counters together."""
        self._call("finish_expansion", step=step, node=node, failure=failure, llm_calls=llm_calls, progress=progress)

    def cancel_expansion(self, step: int) -> None:
        """Marks an expansion that was never started."""
        self._call("cancel_expansion", step)

    def record_evaluation(self, node: Node, result: EvalResult, *, seq: int, progress: dict[str, Any]) -> None:
        """Commits a verdict and the budget counters together."""
        self._call("record_evaluation", node, result, seq=seq, progress=progress)

    def record_llm_calls(self, node_id: int | None, calls: list[dict[str, Any]], *, step: int | None = None) -> None:
        """Stores LLM calls made outside an expansion (a root's draft)."""
        self._call("record_llm_calls", node_id, calls, step=step)

    def open_expansions(self) -> list[dict[str, Any]]:
        """Returns the expansion steps a killed run left in flight."""
        return self._call("open_expansions")

    def trailing_expansion_failures(self) -> int:
        """Returns how many of the latest finished expansion steps failed in a row."""
        return self._call("trailing_expansion_failures")
