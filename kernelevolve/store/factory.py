"""Builds the configured object store of one run (the config itself is store/config.py, which imports no backend)."""

from __future__ import annotations

from pathlib import Path

from kernelevolve.store import objects_s3
from kernelevolve.store.config import ObjectBackend, StoreConfig
from kernelevolve.store.objects_local import LocalObjectStore
from kernelevolve.store.protocols import ObjectStore


def build_object_store(config: StoreConfig, run_dir: Path, run_id: str) -> ObjectStore:
    """Returns the object store of one run for the configured backend.

    Raises:
        ConfigError: the s3 backend lacks its SDK, credentials or a valid endpoint.
        StoreError: the s3 endpoint cannot be reached or refuses the credentials.
    """
    if ObjectBackend(config.objects) is ObjectBackend.s3:
        return objects_s3.from_config(config.s3, run_id)
    return LocalObjectStore(Path(run_dir) / "objects")
