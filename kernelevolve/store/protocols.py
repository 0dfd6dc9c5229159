"""Store protocols: where run metadata and objects live."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


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
