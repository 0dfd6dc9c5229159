"""Store protocols: where run metadata and objects live, and what the search controller writes to its archive."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from kernelevolve.core.types import EvalResult, Node


@runtime_checkable
class ObjectStore(Protocol):
    """Named blobs (kernel sources, overviews, logs, profiles). This is the whole surface a backend implements.

    Keys are relative POSIX paths such as "kernel_3.py"; `put` returns a URI-like locator that
    `get` accepts back, so metadata rows can point at objects in any backend.
    """

    def put(self, key: str, data: bytes) -> str:
        """Stores data under key and returns its locator."""
        ...

    def get(self, locator: str) -> bytes:
        """Returns the bytes stored at a locator that `put` returned."""
        ...


@runtime_checkable
class ArchiveWriter(Protocol):
    """The whole surface the search controller (kernelevolve/controller.py) uses of its archive.

    Six writes, each one store transaction committed before the in-memory graph changes, and the two reads
    a resumed controller makes of what it wrote. store/archive.Archive implements it on the local store;
    under Ray, actors/archive.ArchiveClient forwards each call to the single archive actor and returns once
    it has committed. A test keeps this list equal to the calls the controller makes.
    """

    def add_roots(self, nodes: list[Node]) -> None:
        """Stores the run's roots, all of them or none."""
        ...

    def begin_expansion(self, *, step: int, parent_id: int, seed: int, inspirations: list[int]) -> None:
        """Commits an expansion step before the operator is called."""
        ...

    def finish_expansion(self, *, step: int, node: Node | None, failure: str | None,
                         llm_calls: list[dict[str, Any]], progress: dict[str, Any]) -> None:
        """Commits an expansion's node (or failure), its LLM calls and the budget counters together."""
        ...

    def cancel_expansion(self, step: int) -> None:
        """Marks an expansion that was never started."""
        ...

    def record_evaluation(self, node: Node, result: EvalResult, *, seq: int, progress: dict[str, Any]) -> None:
        """Commits a verdict and the budget counters together."""
        ...

    def record_llm_calls(self, node_id: int | None, calls: list[dict[str, Any]], *, step: int | None = None) -> None:
        """Stores LLM calls made outside an expansion (a root's draft)."""
        ...

    def open_expansions(self) -> list[dict[str, Any]]:
        """Returns the expansion steps a killed run left in flight."""
        ...

    def trailing_expansion_failures(self) -> int:
        """Returns how many of the latest finished expansion steps failed in a row."""
        ...
