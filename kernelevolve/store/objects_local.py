"""A content-addressed ObjectStore on a local directory.

Bytes live once, under `<root>/.cas/<2 hex>/<sha256>`; the key a caller chose (`kernel_3.py`) is a
hard link to that blob, so the run directory stays browsable while identical content (a resumed run
re-writing a kernel, the same log twice) is stored once and a re-`put` is idempotent. Every write is
atomic (temp file + fsync + rename), so a kill leaves either the old object or the new one.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

from kernelevolve.core.errors import StoreError

CAS_DIR = ".cas"


class LocalObjectStore:
    """Content-addressed blobs plus named hard links; `put` returns the named file's path."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise StoreError(f"object key {key!r} escapes the store root {self.root}; use a relative path.")
        return path

    def blob_path(self, digest: str) -> Path:
        """Returns where the blob of this sha256 hex digest lives."""
        return self.root / CAS_DIR / digest[:2] / digest

    def put(self, key: str, data: bytes) -> str:
        """Stores data (once per content) and links <root>/<key> to it; returns that path.

        Raises StoreError naming the store's directory when the write fails (a full disk above all: the
        operating system's own message names no path).
        """
        try:
            return self._put(key, data)
        except StoreError:
            raise
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreError(f"the disk holding {self.root} is full ({exc.strerror}) while storing {key}; free "
                                 "some space, then resume the run (run.resume=<run id>).") from exc
            raise StoreError(f"storing {key} under {self.root} failed: {exc}") from exc

    def _put(self, key: str, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        blob = self.blob_path(digest)
        if not blob.is_file():
            _write_atomic(blob, data)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp_name(path)
        try:
            os.link(blob, tmp)
        except OSError:  # a filesystem without hard links: keep a copy instead
            _write_atomic(tmp, data)
        os.replace(tmp, path)
        return str(path)

    def get(self, locator: str) -> bytes:
        """Returns the bytes at a locator from `put`, a key, or `sha256:<hex>`."""
        if locator.startswith("sha256:"):
            path = self.blob_path(locator.removeprefix("sha256:"))
        else:
            path = Path(locator) if Path(locator).is_absolute() else self._path(locator)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"object {locator} is missing from {self.root}") from exc


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}-{threading.get_ident()}")


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a half-written temp file would only hold on to the space that ran out
        raise
