"""Compiled-kernel caches of sandboxed processes: each private, shared only where no other candidate can reach.

Every process that runs candidate code has its own Triton and inductor cache inside its private dir (the
only place its filesystem jail lets it write), so no candidate can plant a compiled kernel that another
candidate's process loads. Two hand-overs keep compiles from being repeated, both done by the evaluator
(trusted) by copying files, never by linking:
- warm: what a worker compiled before it saw any candidate (the baselines, at its handshake) goes to
  `<workdir>/cache/warm/` and seeds every new process's private cache.
- bound: what a process compiled while it served a candidate goes to `<workdir>/cache/by_source/<sha256 of the
  candidate's source>/`, and is copied only into a process about to serve the same source. A candidate can
  therefore only ever load kernels made while the same source was being served (by itself, or by a
  compile-only worker ahead of the judge) — nothing another candidate made.
A process that serves several candidates in turn (a judge worker, a compile-only worker) has its private cache
reset before each: every file its trusted phases did not leave there unchanged (same inode, ctime and size;
a write, a rename or a chmod changes the ctime, which no unprivileged process can set) is removed, symlinks
too, so files an earlier candidate planted or rewrote are gone before the next one's kernels are looked up.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

WARM_CACHES = ("triton", "inductor")  # the private cache dirs a warm snapshot holds
MAX_FILE_BYTES = 256 * 2**20  # a larger "compiled kernel" is a candidate filling the disk: never shared


def private_cache(workdir: Path, private: Path) -> Path:
    """Returns `private`/cache, seeded with the warm snapshot of `workdir`."""
    cache = private / "cache"
    warm = workdir / "cache" / "warm"
    for name in WARM_CACHES:
        _copy_missing(warm / name, cache / name)
    return cache


def publish_warm(cache: Path, workdir: Path) -> int:
    """Copies a candidate-free process's cache files missing from the warm snapshot; returns how many."""
    return sum(_copy_missing(cache / name, workdir / "cache" / "warm" / name) for name in WARM_CACHES)


def source_digest(source: str) -> str:
    """Returns the name of a candidate source's bound cache (sha256 of its text)."""
    return hashlib.sha256(source.encode()).hexdigest()


class BoundCache:
    """The Triton cache of one process, bound to the candidate source it is serving.

    `cache` is the process's private cache as `private_cache` seeded it (trusted: no candidate has run yet).
    """

    def __init__(self, cache: Path, workdir: Path) -> None:
        self.cache, self.triton = cache, cache / "triton"
        self._warm = workdir / "cache" / "warm"
        self._shared = workdir / "cache" / "by_source"
        self._digest = ""
        self._seen: set[Path] = set()
        self._trusted: dict[Path, tuple[int, int, int]] = {}
        self.trust()

    def trust(self) -> None:
        """Records the private cache as it is now as candidate-free (called after seeding and after the handshake)."""
        self._trusted = _stamps(self.cache)

    def bind(self, source: str) -> int:
        """Binds to `source` before its job is sent; returns how many files were copied in for it.

        First removes what no trusted phase left unchanged (an earlier candidate's files, planted or rewritten),
        then tops the cache up from the warm snapshot (trusted) and copies in the kernels made for `source`.
        """
        self._digest = ""  # until bound: a failed bind publishes nothing under any name
        removed = _reset(self.cache, self._trusted)
        if removed:
            logger.info("kernel cache %s: removed %d file(s) left by an earlier candidate", self.cache, removed)
        for name in WARM_CACHES:
            _copy_missing(self._warm / name, self.cache / name)
        self._trusted = _stamps(self.cache)  # all of it is trusted now: nothing of a candidate is left
        digest = source_digest(source)
        copied = _copy_missing(self._shared / digest, self.triton)
        self._seen = _files(self.triton)  # present before this source ran: never published under its name
        self._digest = digest
        return copied

    def publish(self) -> int:
        """Copies the files made since `bind` (while serving the bound source) to its shared dir; returns how many."""
        if not self._digest:
            return 0
        made = _files(self.triton) - self._seen
        self._seen |= made
        return _copy_missing(self.triton, self._shared / self._digest, only=made)


def _stamps(root: Path) -> dict[Path, tuple[int, int, int]]:
    """Returns (inode, ctime ns, size) of every regular file beneath `root` (symlinks never followed)."""
    found = {}
    for path in _files(root):
        try:
            st = os.lstat(root / path)
        except FileNotFoundError:  # gone since the listing: nothing to trust
            continue
        found[path] = (st.st_ino, st.st_ctime_ns, st.st_size)
    return found


def _reset(root: Path, trusted: dict[Path, tuple[int, int, int]]) -> int:
    """Removes beneath `root` every symlink and every file whose stamp differs from `trusted`; returns how many."""
    removed = 0
    for top, dirs, files in os.walk(root, followlinks=False):
        for name in [*files, *(d for d in dirs if os.path.islink(os.path.join(top, d)))]:
            path = Path(top, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode) and trusted.get(path.relative_to(root)) == (st.st_ino, st.st_ctime_ns,
                                                                                   st.st_size):
                continue
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.is_symlink()} if root.is_dir() \
        else set()


def _copy_missing(source: Path, target: Path, *, only: set[Path] | None = None) -> int:
    """Copies regular files of `source` absent from `target`; returns how many.

    Each lands under a temporary name and is renamed into place, so concurrent writers and readers never see
    half a file; an existing file is never replaced; symlinks are never followed.
    """
    copied = 0
    for relative in sorted(_files(source) if only is None else only):
        dest = target / relative
        if dest.exists() or (source / relative).is_symlink() or (source / relative).stat().st_size > MAX_FILE_BYTES:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.partial")
        shutil.copyfile(source / relative, partial)
        os.replace(partial, dest)
        copied += 1
    return copied
