"""The archive actor: the single writer of a run's metadata store and object store.

It also keeps the work ledger: each finished evaluation (keyed by candidate id) and expansion (keyed by
request) is saved here before its caller hears of it, so a retry after a lost reply finds the answer
in the store instead of doing the work twice. `ArchiveClient` gives the core Controller the Archive
surface it writes through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray

from actors._logging import setup_actor_logging
from kernelevolve.core.errors import StoreError
from kernelevolve.store.archive import Archive
from kernelevolve.store.config import StoreConfig, build_object_store

logger = logging.getLogger(__name__)


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
    """The Archive the core Controller writes through: every method call is forwarded to the archive
    actor and returns once the actor has committed it (so the store stays ahead of the graph)."""

    def __init__(self, actor: Any, run_id: str) -> None:
        self.run_id = run_id
        self._actor = actor

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def forward(*args: Any, **kwargs: Any) -> Any:
            return ray.get(self._actor.call.remote(method, *args, **kwargs))

        return forward
