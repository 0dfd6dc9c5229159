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
- machine: the warm snapshot outlives the run in `eval.compile_cache` (`~/.cache/kernelevolve/compiled` by
  default), one dir per torch and triton version and task file, so a later run of the task on this machine
  starts its first worker from the baselines an earlier run compiled (torch.compile max-autotune of the
  baselines is most of a cold worker's start: 15-70 s on an H100). Only a run's warm snapshot goes there, and
  comes back from there, so the same rule holds: nothing in it was written while a candidate could run.
A process that serves several candidates in turn (a judge worker, a compile-only worker) has its private cache
reset before each: every file its trusted phases did not leave there unchanged (same inode, ctime and size;
a write, a rename or a chmod changes the ctime, which no unprivileged process can set) is removed, symlinks
too, so files an earlier candidate planted or rewrote are gone before the next one's kernels are looked up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

WARM_CACHES = ("triton", "inductor")  # the private cache dirs a warm snapshot holds
MAX_FILE_BYTES = 256 * 2**20  # a larger "compiled kernel" is a candidate filling the disk: never shared
GROUP_PREFIX = "__grp__"  # Triton's index of a cached kernel's files (absolute paths: rewritten when copied)
MAX_GROUP_BYTES = 2**20
# Bumped when what a snapshot holds changes so that an older one must not be loaded: 2 = baselines compiled with
# Inductor's autotune cache off (a graph cached before that names its compiling process's dir for its autotuning
# result, and a later run's worker died writing there); 3 = that cache back on, its results filed by the loading
# process's dir (tasks/autotune_paths.py): a format-2 graph's kernels hold no autotune cache, so every process
# would keep autotuning them again.
MACHINE_FORMAT = 3


Stamp = tuple[int, int, int]  # (inode, ctime ns, size) of a regular file


def private_cache(workdir: Path, private: Path) -> Path:
    """Returns `private`/cache, seeded with the warm snapshot of `workdir`."""
    cache = private / "cache"
    _copy_caches(_warm(workdir), cache)
    return cache


def publish_warm(cache: Path, workdir: Path) -> int:
    """Copies a candidate-free process's cache files missing from the warm snapshot; returns how many."""
    return _copy_caches(cache, _warm(workdir))


def machine_snapshot(root: str, task_digest: str) -> Path | None:
    """Returns the machine-wide warm snapshot of a task for this torch and triton ("~" expanded), None for root ""."""
    if not root:
        return None
    import importlib.metadata

    import torch

    try:
        triton = importlib.metadata.version("triton")
    except importlib.metadata.PackageNotFoundError:
        triton = "none"
    return Path(root).expanduser() / f"torch-{torch.__version__}_triton-{triton}_format-{MACHINE_FORMAT}" / \
        task_digest[:16]


def seed_run(machine: Path, workdir: Path) -> int:
    """Copies the machine-wide snapshot's files missing from the run's warm snapshot; returns how many."""
    return _copy_caches(machine, _warm(workdir))


def publish_machine(workdir: Path, machine: Path) -> int:
    """Copies the run's warm snapshot's files missing from the machine-wide one; returns how many."""
    return _copy_caches(_warm(workdir), machine)


def has_warm(workdir: Path) -> bool:
    """Returns True when the run's warm snapshot holds compiled files (an earlier worker's, or the machine-wide
    cache's): a new worker then loads its baselines from there and compiling them ahead would only repeat that."""
    return any(p.is_file() for name in WARM_CACHES for p in (_warm(workdir) / name).rglob("*"))


def _warm(workdir: Path) -> Path:
    """Returns a run's warm snapshot dir."""
    return workdir / "cache" / "warm"


def _copy_caches(source: Path, target: Path) -> int:
    """Copies the files of each of WARM_CACHES in source missing from target; returns how many."""
    return sum(len(_copy_missing(source / name, target / name)) for name in WARM_CACHES)


def source_digest(source: str) -> str:
    """Returns the name of a candidate source's bound cache (sha256 of its text)."""
    return hashlib.sha256(source.encode()).hexdigest()


class CacheResetError(RuntimeError):
    """A private cache could not be cleared of an earlier candidate's files: the process must not serve another."""


class BoundCache:
    """The Triton cache of one process, bound to the candidate source it is serving.

    `cache` is the process's private cache as `private_cache` seeded it (trusted: no candidate has run yet).
    """

    def __init__(self, cache: Path, workdir: Path) -> None:
        self.cache, self.triton = cache, cache / "triton"
        self._warm = _warm(workdir)
        self._shared = workdir / "cache" / "by_source"
        self._digest = ""
        self._seen: set[str] = set()
        self._trusted: dict[str, Stamp] = {}
        self.trust()

    def trust(self) -> None:
        """Records the private cache as it is now as candidate-free (called after seeding and after the handshake)."""
        self._trusted = _scan(self.cache)[0]

    def bind(self, source: str) -> int:
        """Binds to `source` before its job is sent; returns how many files were copied in for it.

        First removes what no trusted phase left unchanged (an earlier candidate's files, planted or rewritten),
        restoring from the warm snapshot what it holds of them, then copies in the kernels made for `source`.
        """
        self._digest = ""  # until bound: a failed bind publishes nothing under any name
        try:
            files, odd = _scan(self.cache, repair=True)
            untrusted = [rel for rel, stamp in files.items() if self._trusted.get(rel) != stamp]
            for rel in (*untrusted, *odd):
                _remove(self.cache / rel)
        except OSError as exc:
            raise CacheResetError(f"could not clear {self.cache} of an earlier candidate's files: {exc}") from exc
        if untrusted or odd:
            logger.info("kernel cache %s: removed %d file(s) left by an earlier candidate", self.cache,
                        len(untrusted) + len(odd))
        trusted = {rel: files[rel] for rel in files.keys() - set(untrusted)}
        lost = {rel for rel in self._trusted.keys() | set(untrusted) if rel not in trusted}  # removed or rewritten
        restored = _copy_missing(self._warm, self.cache, only=lost, present=trusted.keys())
        self._trusted = trusted | _stamps(self.cache, restored)
        digest = source_digest(source)
        triton = {rel.removeprefix("triton/") for rel in self._trusted if rel.startswith("triton/")}
        copied = _copy_missing(self._shared / digest, self.triton, present=triton)
        self._seen = triton | set(copied)  # present before this source ran: never published under its name
        self._digest = digest
        return len(copied)

    def publish(self) -> int:
        """Copies the files made since `bind` (while serving the bound source) to its shared dir; returns how many."""
        if not self._digest:
            return 0
        made = _scan(self.triton)[0].keys() - self._seen
        self._seen |= made
        return len(_copy_missing(self.triton, self._shared / self._digest, only=made))


def _scan(root: Path, *, repair: bool = False) -> tuple[dict[str, Stamp], list[str]]:
    """Returns the regular files beneath `root` (relative path -> stamp) and every other entry that is not a
    directory (symlinks, fifos, sockets); never follows a symlink. One directory read per dir, one lstat per file.

    With `repair`, a directory a candidate made unreadable is given back its owner's rights first (else its
    files would go unseen); an OSError means the tree could not be read whole.
    """
    files: dict[str, Stamp] = {}
    odd: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        folder = root / rel if rel else root
        try:
            entries = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError:
            if not repair:
                raise
            os.chmod(folder, 0o700)
            entries = os.scandir(folder)
        with entries:
            for entry in entries:
                name = f"{rel}/{entry.name}" if rel else entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(name)
                    elif entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        files[name] = (st.st_ino, st.st_ctime_ns, st.st_size)
                    else:
                        odd.append(name)
                except FileNotFoundError:  # gone since the listing
                    continue
    return files, odd


def _remove(path: Path) -> None:
    """Removes a file or symlink, first giving its directory back its owner's rights if a candidate took them."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    except PermissionError:
        os.chmod(path.parent, 0o700)
        os.unlink(path)


def _regular(root: Path, names: set[str]) -> dict[str, Stamp]:
    """Returns the stamps of those of `names` that are regular files beneath `root` (no symlink followed)."""
    found = {}
    for name in names:
        try:
            st = os.lstat(root / name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISREG(st.st_mode):
            found[name] = (st.st_ino, st.st_ctime_ns, st.st_size)
    return found


def _stamps(root: Path, names: list[str]) -> dict[str, Stamp]:
    found = {}
    for name in names:
        st = os.lstat(root / name)
        found[name] = (st.st_ino, st.st_ctime_ns, st.st_size)
    return found


def _copy_missing(source: Path, target: Path, *, only: set[str] | None = None,
                  present: Iterable[str] | None = None) -> list[str]:
    """Copies regular files of `source` absent from `target`; returns the relative paths copied.

    `present` names what `target` is known to hold (else it is scanned). Each file lands under a temporary name
    and is renamed into place, so concurrent writers and readers never see half a file; an existing file is
    never replaced; a symlink is never followed (O_NOFOLLOW), a file above MAX_FILE_BYTES never copied.
    """
    available = _scan(source)[0] if only is None else _regular(source, only)
    wanted = available.keys()
    have = set(_scan(target)[0]) | set(_scan(target)[1]) if present is None else set(present)
    copied = []
    for relative in sorted(wanted - have, key=lambda rel: (_is_group(rel), rel)):  # groups after their files
        dest = target / relative
        if os.path.lexists(dest) or available[relative][2] > MAX_FILE_BYTES:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.partial")
        copy = _copy_group if _is_group(relative) else _copy_file
        try:
            if not copy(source / relative, partial):
                continue
        except FileNotFoundError:  # gone since the scan
            continue
        os.replace(partial, dest)
        copied.append(relative)
    return copied


def _is_group(relative: str) -> bool:
    return os.path.basename(relative).startswith(GROUP_PREFIX)


def _copy_group(source: Path, partial: Path) -> bool:
    """Copies a Triton cache group file with its members' paths moved to the copy's dir; False when unreadable.

    Triton finds a cached kernel's files through `__grp__<name>.json`, which names them by absolute path in the
    cache that wrote it. Copied as is, it sends the reader to the writer's private dir: a miss (the compile
    runs again) once that process's cache was reset or removed, which is what made a judge recompile every
    kernel its compile-only worker had compiled.
    """
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        raw = f.read(MAX_GROUP_BYTES + 1)
    try:
        children = json.loads(raw).get("child_paths") if len(raw) <= MAX_GROUP_BYTES else None
    except (ValueError, AttributeError):
        children = None
    if not isinstance(children, dict):
        return False
    here = partial.parent
    moved = {str(name): str(here / os.path.basename(str(path))) for name, path in children.items()
             if isinstance(path, str) and os.path.basename(path) not in ("", ".", "..")}
    out = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    with os.fdopen(out, "w") as f:
        json.dump({"child_paths": moved}, f)
    return True


def _copy_file(source: Path, partial: Path) -> bool:
    """Copies `source` (never through a symlink) to the new file `partial`; False when it is too large."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size > MAX_FILE_BYTES:  # grew since the scan
            return False
        out = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            offset = 0
            while offset < size:
                sent = os.sendfile(out, fd, offset, size - offset)
                if sent == 0:
                    break
                offset += sent
        finally:
            os.close(out)
    finally:
        os.close(fd)
    return True
