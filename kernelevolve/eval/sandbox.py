"""The evaluator's side of a worker process: scrubbed environment, private dir, limits, timeouts, kills.

A worker is started with `start_new_session` (its own process group, so a kill reaches every child it
made), stdin closed and stdout/stderr in a log file inside its private temp dir. Jobs go in on one pipe
and verdicts come back on another; only a well-formed reply carrying the job's nonce is a verdict.

Every process that runs candidate code starts through the OS filesystem jail (fsjail.py): it can write
only beneath its private dir, which holds its own Triton and inductor caches. What it compiled is shared
only as kernel_cache.py allows: at its handshake (no candidate seen yet) as the warm snapshot, and after a
job only with processes serving the same candidate source.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from kernelevolve.core.errors import SandboxError
from kernelevolve.eval import fsjail
from kernelevolve.eval.kernel_cache import BoundCache, CacheResetError, private_cache, publish_warm
from kernelevolve.eval.redact import CREDENTIAL_NAME
from kernelevolve.eval.wire.channel import (
    ChannelClosed,
    ChannelTimeout,
    MalformedMessage,
    recv_message,
    send_message,
    wait_readable,
)
from kernelevolve.eval.wire.messages import BadMessage, Hello, Ready, Stage
from kernelevolve.paths import project_root

logger = logging.getLogger(__name__)

# Passed through when present; everything else is dropped.
ENV_ALLOW = {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
             "CUDA_HOME", "CUDA_PATH", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "NVIDIA_VISIBLE_DEVICES",
             "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ROCM_PATH", "HIP_PATH", "HSA_OVERRIDE_GFX_VERSION",
             "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TRITON_PTXAS_PATH", "TRITON_LIBCUDA_PATH",
             "TRITON_CUDART_PATH", "TRITON_INTERPRET", "CC", "CXX"}
# Dropped even when allow-listed (belt and braces against a credential in an odd variable name).
ENV_DENY = CREDENTIAL_NAME
STDERR_TAIL_CHARS = 3000
# The mains a WorkerProcess starts (`python -m <module>`): every one serves the protocol of wire/serve.py.
WORKER_MODULE = "kernelevolve.eval.worker.main"  # the judge's worker: runs candidate code
REFEREE_MODULE = "kernelevolve.eval.referee.main"  # trusted (runs no candidate code): not jailed, see jail_layers
PRECOMPILE_MODULE = "kernelevolve.eval.precompile.main"  # compile-only worker: runs candidate code


def jail_layers() -> tuple[fsjail.Layer, ...]:
    """Returns the filesystem jail layers this machine supports (probed once per process), warning loudly when none.

    The referee is never jailed: it runs no candidate code, and Landlock would forbid it to open the worker's
    sealed output files through /proc (a Landlocked process cannot reach a process outside its domain).
    """
    support = fsjail.probe()
    if not support.layers:
        _warn_once(support.describe())
    return support.layers


OWN_THREADS = Path("/proc/self/task")  # resolved in the jailed process itself: its own threads' proc dirs


def jail_writable(private: Path, platform: str) -> list[Path]:
    """Returns what a jailed process may write: its private dir and, on device platforms, /dev/shm and its own
    threads' proc files.

    On CUDA/ROCm the worker hands its outputs to the referee as IPC handles, and torch keeps their reference
    counters in shared-memory files the referee opens: /dev/shm must be the host's, and writable (a candidate
    can then write there too; SECURITY.md lists it). The cpu platform hands outputs over as sealed memfds.
    The CUDA driver names the threads it starts by writing /proc/self/task/<tid>/comm, and its initialisation
    fails ("error 304: OS call failed", found on an H100) when that write is refused; the jail resolves the
    path in the jailed process, so only that process's own threads are writable.
    """
    shm = Path("/dev/shm")
    if platform == "cpu":
        return [private]
    return [private, *([shm] if shm.is_dir() else []), OWN_THREADS]


@functools.lru_cache(maxsize=1)
def _warn_once(text: str) -> None:
    logger.warning("%s. Candidate processes are NOT confined by the OS: run on Linux >= 5.13 with Landlock, or "
                   "where unprivileged user namespaces are allowed (see SECURITY.md)", text)


def scrubbed_env(extra: dict[str, str], home: Path, cache_dir: Path) -> dict[str, str]:
    """Returns the worker's environment: allow-listed names minus credential-like ones, plus our own.

    `cache_dir` holds the process's Triton and inductor caches: its private one (private_cache) for any
    process that runs candidate code, so no candidate can plant a compiled kernel another one loads.
    Paths are made absolute: a worker runs in its own private dir, where a relative path (a run's
    `runs/<id>/eval/...`) would name another directory than the one the evaluator seeds and publishes from,
    so compile-only workers would fill caches the judge never reads and every new worker would compile its
    torch.compile baselines again.
    """
    home, cache_dir = Path(home).resolve(), Path(cache_dir).resolve()
    env = {k: v for k, v in os.environ.items() if k in ENV_ALLOW and not ENV_DENY.search(k)}
    package_root = str(project_root())  # the worker imports this checkout's kernelevolve, not another install
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env.update(HOME=str(home), TMPDIR=str(home), PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1",
               TRITON_CACHE_DIR=str(cache_dir / "triton"), TORCHINDUCTOR_CACHE_DIR=str(cache_dir / "inductor"))
    env.update(extra)
    return env


class ReplyKind(enum.StrEnum):
    """How a request ended: a message from the worker (ready/result/harness_error) or how it failed."""

    READY = "ready"
    RESULT = "result"
    HARNESS_ERROR = "harness_error"
    TIMEOUT = "timeout"
    DIED = "died"
    FORGED = "forged"
    MEMORY = "memory"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reply:
    """What came back for one job: a verdict payload, or how the worker failed to give one."""

    kind: ReplyKind
    payload: dict[str, Any] = dataclasses.field(default_factory=dict)
    detail: str = ""


class WorkerProcess:
    """One sandboxed worker serving jobs for one task on one platform until it must be recycled.

    `module` is the worker's main (`python -m module`); it takes the same arguments and speaks the same
    nonce-framed protocol (wire/serve.py) as WORKER_MODULE.
    """

    def __init__(self, *, task_path: Path, platform: str, env_extra: dict[str, str], workdir: Path,
                 address_space_gb: float, memory_limit_gb: float, block_network: bool,
                 module: str = WORKER_MODULE, extra_args: tuple[str, ...] = ()) -> None:
        self._workdir = Path(workdir).resolve()  # the jail, the caches and the env all name absolute paths
        self.tmpdir = Path(tempfile.mkdtemp(prefix="worker_", dir=self._workdir))
        self._memory_limit = memory_limit_gb
        job_r, self._job_w = os.pipe()
        self._verdict_r, verdict_w = os.pipe()
        self._log = open(self.tmpdir / "worker.log", "wb")  # noqa: SIM115 - lives as long as the worker
        cmd = [sys.executable, "-m", module, "--task", str(task_path), "--platform", platform,
               "--job-fd", str(job_r), "--verdict-fd", str(verdict_w), "--address-space-gb", str(address_space_gb)]
        if block_network:
            cmd.append("--block-network")
        cmd.extend(extra_args)
        self.jail = () if module == REFEREE_MODULE else jail_layers()
        self._cache = private_cache(self._workdir, self.tmpdir)
        self._bound = BoundCache(self._cache, self._workdir)
        self._env = scrubbed_env(env_extra, self.tmpdir, self._cache)
        self.task_path, self.platform = task_path, platform
        self.proc = subprocess.Popen(fsjail.wrap(cmd, jail_writable(self.tmpdir, platform), self.jail), cwd=self.tmpdir,
                                     env=self._env,
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     pass_fds=(job_r, verdict_w), start_new_session=True)
        os.close(job_r)
        os.close(verdict_w)
        self.info: Ready | None = None  # its ready message, once the handshake succeeded

    def start_trusted(self, args: list[str], env_extra: dict[str, str] | None = None,
                      stdin: int = subprocess.DEVNULL) -> subprocess.Popen:
        """Starts `python args...` unjailed, in this worker's dir and environment (plus env_extra), writing its log,
        in a session of its own: for processes that run no candidate code before this worker has run any
        (baseline_ahead.py). `-P`: its working dir (the worker's, writable by the worker) is not on sys.path."""
        env = {**self._env, **(env_extra or {})}
        return subprocess.Popen([sys.executable, "-P", *args], cwd=self.tmpdir, env=env, stdin=stdin,
                                stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def send_hello(self, hello: Hello | None = None) -> None:
        """Starts the handshake without waiting (a spare worker warms up in the background).

        `hello` tells the judge's worker what to compile before serving (warm_shapes, baseline, staged).
        """
        self._hello_nonce = secrets.token_hex(16)
        try:
            send_message(self._job_w, dict((hello or Hello()).to_wire(), nonce=self._hello_nonce))
        except OSError:
            self._hello_nonce = ""

    def handshake(self, timeout_s: float,
                  device_work: Callable[[], contextlib.AbstractContextManager[Any]] | None = None) -> Ready:
        """Returns the worker's ready message (kept as `info` too); raises SandboxError with its log tail when it
        fails or the message is malformed.

        A worker sent a `staged` hello reports first when its imports and device set-up are done; the rest of
        its start (compiling and running its baselines on the device) then runs inside `device_work()` (the
        evaluator holds the device's gate there).
        """
        if not getattr(self, "_hello_nonce", ""):
            self.send_hello()
        deadline = time.monotonic() + timeout_s
        reply = self._receive(self._hello_nonce, timeout_s, watch_memory=False)  # compiling baselines: trusted
        ready = self._ready(reply)
        if ready.stage == Stage.context:
            entering = time.monotonic()
            with device_work() if device_work is not None else contextlib.nullcontext():
                deadline += time.monotonic() - entering  # the gate's wait and a compile ahead are not its start
                self._hello_nonce = secrets.token_hex(16)
                send_message(self._job_w, {"kind": "warm", "nonce": self._hello_nonce})
                reply = self._receive(self._hello_nonce, max(deadline - time.monotonic(), 1.0), watch_memory=False)
            ready = self._ready(reply)
            if ready.stage != Stage.serving:
                self._failed_start(f"a second ready of stage {ready.stage!r} where the worker should serve")
        self.info = ready
        try:  # no candidate has run in this process yet: what it compiled (baselines) is safe to share
            publish_warm(self._cache, self._workdir)
            self._bound.trust()  # what the handshake compiled stays across candidates; anything later does not
        except OSError as exc:  # the snapshot only saves start-up time: a full disk must not stop the judge
            logger.warning("could not publish the warm compile cache of worker pid=%d: %s", self.proc.pid, exc)
        return ready

    def _ready(self, reply: Reply) -> Ready:
        """Returns the ready message a start-up reply carries; kills the worker and raises SandboxError when the
        reply is none, or a ready whose fields are missing or mistyped (named in the error)."""
        if reply.kind != ReplyKind.READY:
            self._failed_start(f"{reply.kind}: {reply.detail}")
        try:
            return Ready.from_wire(reply.payload)
        except BadMessage as exc:
            self._failed_start(f"malformed ready message: {exc}")

    def _failed_start(self, why: str) -> NoReturn:
        self.kill()
        raise SandboxError(f"evaluation worker failed to start ({why}); log tail:\n{self.log_tail()}")

    def request(self, message: dict[str, Any], timeout_s: float) -> Reply:
        """Sends one message tagged with a fresh nonce and returns the worker's authenticated reply."""
        return self.collect(self.post(message), timeout_s)

    def post(self, message: dict[str, Any]) -> str:
        """Sends one message tagged with a fresh nonce without waiting; returns the nonce for `collect`
        ("" when the channel is closed, which `collect` reports as the worker's death)."""
        nonce = secrets.token_hex(16)
        if "source" in message:  # a new candidate: the kernels compiled for this very source, and nothing else
            try:
                self._share(self._bound.bind, str(message["source"]))
            except CacheResetError as exc:  # an earlier candidate's files may remain: this process serves no more
                logger.error("worker pid=%d retired: %s", self.proc.pid, exc)
                self.kill()
                return ""
        try:
            send_message(self._job_w, dict(message, nonce=nonce))
        except (BrokenPipeError, OSError) as exc:
            logger.warning("job channel of worker pid=%d closed: %s", self.proc.pid, exc)
            return ""
        return nonce

    def collect(self, nonce: str, timeout_s: float) -> Reply:
        """Returns the authenticated reply to the message `post` sent with this nonce."""
        if not nonce:
            return self._died("job channel closed")
        reply = self._receive(nonce, timeout_s)
        if reply.kind == ReplyKind.RESULT and reply.payload.get("phase", "final") == "final":  # the job's last reply
            self._share(self._bound.publish)
        return reply

    def _share(self, step: Callable[..., int], *args: str) -> None:
        try:
            step(*args)
        except OSError as exc:  # sharing compiled kernels only saves compile time: a full disk must not stop the judge
            logger.warning("kernel cache of worker pid=%d not shared: %s", self.proc.pid, exc)

    def _receive(self, nonce: str, timeout_s: float, *, watch_memory: bool = True) -> Reply:
        deadline = time.monotonic() + timeout_s
        while not wait_readable(self._verdict_r, min(0.5, max(deadline - time.monotonic(), 0.0))):
            if time.monotonic() >= deadline:
                self.kill()
                return Reply(kind=ReplyKind.TIMEOUT, detail=f"no verdict within {timeout_s:g} s")
            if watch_memory and self._over_memory():
                self.kill()
                return Reply(kind=ReplyKind.MEMORY, detail=f"worker host memory (resident, its whole process group) "
                                                           f"above {self._memory_limit:g} GiB (eval.memory_limit_gb)")
        try:  # a frame has started: read all of it against the same deadline (never resync mid-frame)
            reply = recv_message(self._verdict_r, deadline=max(deadline, time.monotonic() + 5.0))
        except ChannelTimeout:
            self.kill()
            return Reply(kind=ReplyKind.TIMEOUT, detail=f"verdict incomplete after {timeout_s:g} s")
        except ChannelClosed:
            return self._died("worker exited without a verdict")
        except MalformedMessage as exc:
            self.kill()
            return Reply(kind=ReplyKind.FORGED, detail=f"unauthenticated bytes on the verdict channel ({exc})")
        if reply.get("nonce") != nonce:
            self.kill()
            return Reply(kind=ReplyKind.FORGED, detail="a message without the job's nonce arrived on the verdict channel")
        try:
            kind = ReplyKind(str(reply.get("kind")))
        except ValueError:
            kind = None
        if kind not in (ReplyKind.READY, ReplyKind.RESULT, ReplyKind.HARNESS_ERROR):
            self.kill()
            return Reply(kind=ReplyKind.FORGED, detail=f"a message of unknown kind {str(reply.get('kind'))[:40]!r}")
        return Reply(kind=kind, payload=reply, detail=tail_lines(str(reply.get("error", "")), 2000))

    def _died(self, what: str) -> Reply:
        code = self.proc.wait(timeout=10)
        how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        self.kill()
        return Reply(kind=ReplyKind.DIED, detail=f"{what} ({how})")

    def _over_memory(self) -> bool:
        return self._memory_limit > 0 and group_rss_bytes(self.proc.pid) > self._memory_limit * 2**30

    def log_tail(self, chars: int = STDERR_TAIL_CHARS) -> str:
        """Returns the end of the worker's stdout/stderr (candidate prints land here too)."""
        try:
            data = (self.tmpdir / "worker.log").read_bytes()
        except OSError:
            return ""
        return data[-chars:].decode(errors="replace")

    def alive(self) -> bool:
        """Returns True while the process runs."""
        return self.proc.poll() is None

    def kill(self) -> None:
        """Kills the worker's whole process group (children included) and reaps it."""
        kill_group(self.proc, "worker")

    def close(self) -> None:
        """Stops the worker and removes its private directory."""
        if self.alive():
            try:
                send_message(self._job_w, {"kind": "stop"})
            except OSError:
                pass
        self.kill()
        for fd in (self._job_w, self._verdict_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def kill_group(proc: subprocess.Popen, what: str, wait_s: float | None = 10.0) -> None:
    """Kills a process started in a session of its own with its whole process group (children included) and reaps
    it; a process still there after wait_s (None: wait as long as it takes) is logged as `what`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        logger.warning("%s pid=%d did not die after SIGKILL", what, proc.pid)


def group_rss_bytes(pgid: int) -> int:
    """Returns the summed resident memory of every process in process group pgid (Linux /proc)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid:  # field 5 of stat = pgrp (after pid, comm, state, ppid)
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24 = rss in pages
        except (OSError, ValueError, IndexError):
            continue
    return total


def tail_lines(text: str, limit: int) -> str:
    """Returns the end of text, at most `limit` characters, cut at a line start (a traceback's last frames and
    its error line, never half a path)."""
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    cut = tail.find("\n")
    return tail[cut + 1:] if 0 <= cut < len(tail) - 1 else tail
