"""An ObjectStore on a local directory."""

from __future__ import annotations

import os
from pathlib import Path

from kernelevolve.core.errors import StoreError


class LocalObjectStore:
    """Stores objects as files under a root directory; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise StoreError(f"object key {key!r} escapes the store root {self.root}; use a relative path.")
        return path

    def put(self, key: str, data: bytes) -> str:
        """Writes data to <root>/<key> atomically and returns the file path."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return str(path)

    def get(self, locator: str) -> bytes:
        """Returns the bytes of a stored file (locator as returned by put, or a key)."""
        path = Path(locator) if Path(locator).is_absolute() else self._path(locator)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"object {locator} is missing from {self.root}") from exc
