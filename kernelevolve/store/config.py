"""Configuration of the store (the `store` config group)."""

from __future__ import annotations

import dataclasses
import enum


class ObjectBackend(enum.StrEnum):
    """Where objects (kernels, overviews, logs) go."""

    local = "local"


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoreConfig:
    """Settings of the run store.

    Attributes:
        root: directory holding one sub-directory per run (<root>/<run-id>/meta.db and its objects);
            relative paths are taken from the directory `launch` was started in.
        objects: the object-store backend.
    """

    root: str = "runs"
    objects: ObjectBackend = ObjectBackend.local
