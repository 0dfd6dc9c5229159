"""The OS layer of the candidate sandbox: a filesystem that is read-only except the process's private dirs.

Two independent layers, applied by a small bootstrap that then execs the real process (nothing of the
jail stays in the candidate's address space, and every child it starts inherits it):
- mount: a private mount namespace in which every mount is read-only (mount_setattr, recursive) except bind
  mounts of the writable dirs (nodev, nosuid); under /dev only an allow-list of device nodes can be opened
  (null, urandom, the GPU's nodes...), and /dev/shm is a fresh private tmpfs unless it is one of the
  writable dirs (GPU workers: CUDA IPC keeps its reference counters there, opened by the referee). As a user it is made inside a
  new user namespace (after exec the process holds no capability to undo it); as root without Landlock it
  is locked by entering a child user namespace (mount flags inherited into a less privileged namespace
  cannot be changed).
- landlock: a Landlock ruleset (Linux >= 5.13) that handles every write-type right and grants them only
  beneath the writable dirs (no device nodes made there) and for writing the allow-listed device nodes.
  Reads stay free. A Landlocked process cannot mount or unmount, so it also locks the first layer, and it
  cannot ptrace or open the /proc fds of a process outside its domain.

Stdlib only and runnable by path (`python -I -S fsjail.py ...`): it starts in milliseconds, before torch.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import enum
import functools
import os
import stat
import subprocess
import sys
from pathlib import Path

EXIT_JAIL_FAILED = 97  # the bootstrap's exit code when a requested layer could not be applied

# Syscall numbers of the unified table (x86_64, aarch64, riscv64 and every other arch since 5.1 share them).
_SYS_MOUNT_SETATTR, _SYS_LANDLOCK_CREATE, _SYS_LANDLOCK_ADD, _SYS_LANDLOCK_RESTRICT = 442, 444, 445, 446
_CLONE_NEWNS, _CLONE_NEWUSER = 0x00020000, 0x10000000
_MS_BIND, _MS_REC, _MS_PRIVATE, _MS_NOSUID, _MS_NODEV = 0x1000, 0x4000, 1 << 18, 0x2, 0x4
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_ATTR_RDONLY, _ATTR_NOSUID, _ATTR_NODEV = 0x1, 0x2, 0x4
_PR_SET_NO_NEW_PRIVS, _PR_CAPBSET_DROP = 38, 24
# Landlock access rights (uapi/linux/landlock.h). Reads (EXECUTE, READ_FILE, READ_DIR) are not handled.
_LL_WRITE_FILE, _LL_REMOVE_DIR, _LL_REMOVE_FILE, _LL_MAKE_CHAR, _LL_MAKE_DIR = 1 << 1, 1 << 4, 1 << 5, 1 << 6, 1 << 7
_LL_MAKE_REG, _LL_MAKE_SOCK, _LL_MAKE_FIFO, _LL_MAKE_BLOCK, _LL_MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
_LL_REFER, _LL_TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
# Capabilities a root candidate never needs (module loading, raw I/O, mknod, ptrace, clock, boot, BPF, MAC).
_DROP_CAPS = (16, 17, 19, 22, 25, 27, 32, 33, 39)
# Device nodes a worker may open for writing: the usual character devices and the accelerators' nodes.
_DEV_NAMES = ("null", "zero", "full", "random", "urandom", "tty", "kfd")
_DEV_PREFIXES = ("nvidia",)
_DEV_DIRS = ("nvidia-caps", "dri", "accel")


class Layer(enum.StrEnum):
    """One OS layer of the filesystem jail."""

    mount = "mount"
    landlock = "landlock"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Support:
    """What this machine allows: the Landlock ABI (0 = none) and whether the mount layer works, with why not."""

    landlock_abi: int
    mount: bool
    mount_error: str = ""

    @property
    def layers(self) -> tuple[Layer, ...]:
        """Returns the layers that can be applied here, in the order they are applied."""
        return tuple(layer for layer, ok in ((Layer.mount, self.mount), (Layer.landlock, self.landlock_abi > 0)) if ok)

    def describe(self) -> str:
        """Returns one line naming the active layers, for logs, `doctor` and the launch warning."""
        if not self.layers:
            return (f"NO filesystem jail: Landlock is unavailable and the mount namespace failed ({self.mount_error}); "
                    "candidates can write wherever this user can (only the in-process audit hook stands)")
        parts = [f"landlock ABI {self.landlock_abi}" if layer is Layer.landlock else "read-only mount namespace"
                 for layer in self.layers]
        missing = "" if self.mount else f" (mount namespace unavailable: {self.mount_error})"
        return "filesystem jail: " + " + ".join(parts) + missing


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def landlock_abi() -> int:
    """Returns the kernel's Landlock ABI version, 0 when Landlock is absent or disabled."""
    if not sys.platform.startswith("linux"):
        return 0
    version = _libc().syscall(_SYS_LANDLOCK_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


@functools.lru_cache(maxsize=1)
def probe() -> Support:
    """Returns what this machine supports (the mount layer is tried in a throwaway child; cached per process)."""
    abi = landlock_abi()
    if not sys.platform.startswith("linux"):
        return Support(landlock_abi=0, mount=False, mount_error="not Linux")
    try:
        done = subprocess.run([sys.executable, "-I", "-S", __file__, "--probe"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Support(landlock_abi=abi, mount=False, mount_error=str(exc))
    error = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return Support(landlock_abi=abi, mount=done.returncode == 0, mount_error="" if done.returncode == 0 else error)


def wrap(cmd: list[str], writable: list[Path], layers: tuple[Layer, ...]) -> list[str]:
    """Returns `cmd` run through the jail bootstrap with `layers`, writable only beneath `writable`."""
    if not layers:
        return list(cmd)
    jail = [sys.executable, "-I", "-S", __file__, "--layers", ",".join(layers)]
    for path in writable:
        jail += ["--write", str(path)]
    return [*jail, "--", *cmd]


def _device_nodes() -> list[str]:
    """Returns the allow-listed device nodes present under /dev."""
    found = []
    for name in sorted(os.listdir("/dev")):
        path = os.path.join("/dev", name)
        if name in _DEV_DIRS and os.path.isdir(path):
            found += [os.path.join(path, sub) for sub in sorted(os.listdir(path))]
        elif name in _DEV_NAMES or name.startswith(_DEV_PREFIXES):
            found.append(path)
    return [p for p in found if stat.S_ISCHR(os.stat(p).st_mode)]


class _MountAttr(ctypes.Structure):
    _fields_ = (("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64))


def _setattr(libc: ctypes.CDLL, path: str, *, set_: int = 0, clr: int = 0, recursive: bool = False) -> None:
    attr = _MountAttr(set_, clr, 0, 0)
    flags = _AT_RECURSIVE if recursive else 0
    _check(libc.syscall(_SYS_MOUNT_SETATTR, ctypes.c_int(_AT_FDCWD), path.encode(), ctypes.c_uint(flags),
                        ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))), f"mount_setattr {path}")


def _mount(libc: ctypes.CDLL, src: str | None, dst: str, fstype: str | None, flags: int, data: str | None) -> None:
    enc = [s.encode() if s is not None else None for s in (src, dst, fstype, data)]
    _check(libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {dst}")


def _enter_user_namespace(libc: ctypes.CDLL, *, flags: int, uid: int, gid: int) -> None:
    """Enters a new user namespace mapping only our own ids (all a process may map for itself)."""
    _check(libc.unshare(_CLONE_NEWUSER | flags), "unshare(user namespace)")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        try:
            Path(f"/proc/self/{name}").write_text(text)
        except OSError as exc:
            raise OSError(exc.errno, f"writing /proc/self/{name}: {exc.strerror}") from exc


def apply_mount(writable: list[str], *, lock: bool) -> None:
    """Moves this process into a private mount namespace where only `writable` (and device nodes) can be written."""
    libc, root = _libc(), os.geteuid() == 0
    if root:
        _check(libc.unshare(_CLONE_NEWNS), "unshare(mount namespace)")
    else:
        _enter_user_namespace(libc, flags=_CLONE_NEWNS, uid=os.geteuid(), gid=os.getegid())
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE, None)
    nodes = _device_nodes()
    for path in [*writable, *nodes]:  # each its own mount, so its flags can differ from its parent's
        _mount(libc, path, path, None, _MS_BIND | _MS_REC, None)
    _setattr(libc, "/", set_=_ATTR_RDONLY, recursive=True)
    _setattr(libc, "/dev", set_=_ATTR_NODEV | _ATTR_NOSUID, recursive=True)
    for node in nodes:
        _setattr(libc, node, clr=_ATTR_NODEV)  # read-only mounts still let a device node be written
    for path in writable:
        _setattr(libc, path, set_=_ATTR_NODEV | _ATTR_NOSUID, clr=_ATTR_RDONLY, recursive=True)
    if os.path.isdir("/dev/shm") and os.path.realpath("/dev/shm") not in writable:  # else shared on purpose
        _mount(libc, "tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777")
    if root and lock:  # flags of mounts inherited into a less privileged user namespace are locked
        _setattr(libc, "/proc", clr=_ATTR_RDONLY)  # for writing the new namespace's uid_map; read-only again below
        _enter_user_namespace(libc, flags=_CLONE_NEWNS, uid=0, gid=0)
        _setattr(libc, "/proc", set_=_ATTR_RDONLY)


class _RulesetAttr(ctypes.Structure):
    _fields_ = (("handled_access_fs", ctypes.c_uint64),)


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def apply_landlock(writable: list[str], *, abi: int, private_shm: bool) -> None:
    """Restricts this process (and what it execs) to writing beneath `writable` and the allow-listed devices."""
    libc = _libc()
    handled = (_LL_WRITE_FILE | _LL_REMOVE_DIR | _LL_REMOVE_FILE | _LL_MAKE_CHAR | _LL_MAKE_DIR | _LL_MAKE_REG
               | _LL_MAKE_SOCK | _LL_MAKE_FIFO | _LL_MAKE_BLOCK | _LL_MAKE_SYM
               | (_LL_REFER if abi >= 2 else 0) | (_LL_TRUNCATE if abi >= 3 else 0))
    attr = _RulesetAttr(handled)
    ruleset = _check(libc.syscall(_SYS_LANDLOCK_CREATE, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                                  ctypes.c_uint32(0)), "landlock_create_ruleset")
    in_dirs = handled & ~(_LL_MAKE_CHAR | _LL_MAKE_BLOCK)  # no device node may be made, even in a private dir
    on_devices = handled & (_LL_WRITE_FILE | _LL_TRUNCATE)
    rules = [(p, in_dirs) for p in writable] + [(p, on_devices) for p in _device_nodes()]
    if private_shm and os.path.isdir("/dev/shm"):
        rules.append(("/dev/shm", in_dirs))
    try:
        for path, allowed in rules:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneath(allowed, fd)
                _check(libc.syscall(_SYS_LANDLOCK_ADD, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule),
                                    ctypes.c_uint32(0)), f"landlock_add_rule {path}")
            finally:
                os.close(fd)
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(libc.syscall(_SYS_LANDLOCK_RESTRICT, ctypes.c_int(ruleset), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _drop_root_capabilities() -> None:
    """Drops capabilities no candidate needs from the bounding set (root keeps only those after exec)."""
    libc = _libc()
    for cap in _DROP_CAPS:
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # an unknown cap number on an old kernel is no error to us


def apply(writable: list[str], layers: tuple[Layer, ...]) -> None:
    """Applies `layers` to this process; raises OSError when one of them cannot be applied."""
    writable = [os.path.realpath(p) for p in writable]
    if Layer.mount in layers:
        cwd = os.getcwd()
        apply_mount(writable, lock=Layer.landlock not in layers)
        os.chdir(cwd)  # the old cwd is the dir under the new bind mount (read-only); look it up again
    if os.geteuid() == 0:
        _drop_root_capabilities()
    if Layer.landlock in layers:
        apply_landlock(writable, abi=landlock_abi(), private_shm=Layer.mount in layers)


def main(argv: list[str]) -> int:
    """Bootstrap: applies the requested layers, then execs the command after `--` (never returns on success)."""
    parser = argparse.ArgumentParser(prog="fsjail")
    parser.add_argument("--probe", action="store_true", help="only try the mount layer; exit 0 when it works")
    parser.add_argument("--layers", default="")
    parser.add_argument("--write", action="append", default=[])
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.probe:
            apply_mount([], lock=True)
            return 0
        apply(args.write, tuple(Layer(name) for name in args.layers.split(",") if name))
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"kernelevolve fsjail: could not apply {args.layers or 'mount'}: {exc}\n")
        return EXIT_JAIL_FAILED
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    os.execv(cmd[0], cmd)
    return EXIT_JAIL_FAILED  # unreachable: execv replaces the process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
