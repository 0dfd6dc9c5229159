"""Run-time integrity checks inside a worker: an audit-hook guard, a monkeypatch detector, a launch counter.

Everything here is built before any candidate code is imported. The guard is armed only while
candidate code runs (import, construction, forward); the harness's own work (references, torch.compile
baselines, Triton's ptxas calls) runs with it disarmed.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

import kernelevolve
from kernelevolve.eval.worker.guard.taint import TaintSnapshot

__all__ = ["ALLOWED_EXECUTABLES", "AuditGuard", "LaunchCounter", "TaintSnapshot", "python_thread_count"]

logger = logging.getLogger(__name__)

# Events refused (PermissionError) and reported whenever candidate code runs.
# Frozen: the hook closes over these, and a candidate must not be able to empty them in place.
_PROCESS_EVENTS = frozenset({"os.fork", "os.forkpty", "os.system", "os.kill", "os.killpg", "pty.spawn", "os.spawn",
                             "os.startfile", "signal.pthread_kill"})
_SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.posix_spawn", "os.exec"})  # (program, argv): allow-listed tools
_NETWORK_EVENTS = frozenset({"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                             "socket.gethostbyname", "socket.gethostbyaddr", "urllib.Request"})
_NATIVE_EVENTS = frozenset({"ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function",
                            "ctypes.addressof", "ctypes.string_at", "ctypes.wstring_at", "ctypes.cdata"})
# Reaching the harness's frames or heap (or seeing every later event) is refused when candidate code asks.
_INTROSPECTION_EVENTS = frozenset({"sys._getframe", "sys._current_frames", "gc.get_objects", "gc.get_referrers",
                                   "gc.get_referents", "sys.settrace", "sys.setprofile", "sys._getframemodulename",
                                   "sys.addaudithook", "sys.monitoring.register_callback", "code.__new__",
                                   "function.__new__"})
# Attributes whose read raises object.__getattr__ (CPython 3.11/3.12) and leads to a frame, hence to f_locals.
_FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
_FILE_WRITE_EVENTS = frozenset({"os.rename", "os.link", "os.symlink", "shutil.copyfile", "shutil.copytree",
                                "shutil.move"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_CODE_ATTRS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})
_ALL_EVENTS = (_PROCESS_EVENTS | _SPAWN_EVENTS | _NETWORK_EVENTS | _NATIVE_EVENTS | _INTROSPECTION_EVENTS
               | {"object.__getattr__", "object.__setattr__", "compile", "open"} | _FILE_WRITE_EVENTS)
_STDLIB = sysconfig.get_paths()["stdlib"]
# .../kernelevolve: every harness file, the referee's included (taken from the package, not from where this file sits
# in it: two dirname()s of this file named eval/worker/ once integrity.py moved into worker/guard/)
_PACKAGE_ROOT = os.path.dirname(os.path.abspath(kernelevolve.__file__))
# Triton and torch compile kernels with these; a candidate may trigger them through a launch.
ALLOWED_EXECUTABLES = frozenset({"ptxas", "ptxas-blackwell", "cuobjdump", "nvdisasm", "nvlink", "fatbinary", "gcc", "cc",
                       "g++", "c++", "clang", "clang++", "ld", "ld.lld", "ldconfig", "hipcc", "amdclang",
                       "lld", "rocm_agent_enumerator", "nvidia-smi", "uname", "file", "nvcc"})


class AuditGuard:
    """A sys.addaudithook hook (never removable) that refuses dangerous operations.

    While `armed` (candidate code on the stack by construction) process, spawn and network events are
    refused whoever asks. Introspection, /proc and code-swapping events are refused whenever the first
    caller outside the standard library is candidate code, armed or not: a signal handler, a finalizer
    or a gc callback of the candidate runs while the harness has the guard disarmed. The hook is a
    closure over its state and over every function it calls, bound before any candidate exists, so
    patching this class, this module or `sys`/`os` afterwards does not weaken it.
    """

    def __init__(self, protected_fds: Iterable[int] = (), trusted_files: Iterable[str] = ()) -> None:
        self._state = SimpleNamespace(armed=False, files=set(), violations=[])
        sys.addaudithook(_make_hook(self._state, frozenset(protected_fds), frozenset(trusted_files)))

    @property
    def armed(self) -> bool:
        """Whether candidate code is running (set by worker/candidate.py around every candidate stretch)."""
        return bool(self._state.armed)

    @armed.setter
    def armed(self, value: bool) -> None:
        self._state.armed = bool(value)

    @property
    def candidate_files(self) -> set[str]:
        """Paths of the candidate sources imported so far (their frames count as candidate code)."""
        return self._state.files

    def take_violations(self) -> list[str]:
        """Returns the violations recorded since the last call and clears them."""
        found = list(self._state.violations)
        self._state.violations.clear()
        return found


def _trusted_roots(trusted_files: frozenset[str]) -> tuple[str, ...]:
    roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], _PACKAGE_ROOT}
    return tuple(sorted(os.path.join(r, "") for r in roots)) + tuple(sorted(trusted_files))


_BUILTINS = (isinstance, str, bytes, len, list, tuple, int, type, getattr)


def _make_locator(state: SimpleNamespace, trusted: tuple[str, ...]) -> Callable[[int], bool]:
    getframe, this_file = sys._getframe, __file__

    def by_candidate(depth: int) -> bool:
        """True when, `depth` frames above the caller, the first frame that is neither stdlib nor unknown code
        (exec'd text) is the candidate's."""
        frame = getframe(depth + 1)
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename in state.files:
                return True
            if filename.startswith(trusted) or filename == this_file:
                return False
            frame = frame.f_back  # stdlib, "<string>", "<frozen ...>": look further up
        return False

    return by_candidate


def _make_path_rules(protected_fds: frozenset[int], trusted: tuple[str, ...]) -> tuple[Callable[[Any], str | None],
                                                                                      Callable[[Any], str | None]]:
    realpath, fsdecode, own_pid, stdlib = os.path.realpath, os.fsdecode, str(os.getpid()), _STDLIB
    protected_paths = frozenset(realpath(f"/proc/self/fd/{fd}") for fd in protected_fds)
    _isinstance, _str, _bytes, _len, _, _, _int, _, _ = _BUILTINS

    def proc_target(path: Any) -> str | None:
        """Returns why opening path is refused (another process's /proc, our memory, the channel), else None."""
        if _isinstance(path, _int):
            return "opening the verdict channel" if path in protected_fds else None
        text = fsdecode(path) if _isinstance(path, _str | _bytes) else _str(path)
        resolved = realpath(text)
        if resolved in protected_paths:
            return "opening the verdict channel"
        for seen in (text, resolved):
            parts = seen.split("/")
            if _len(parts) >= 3 and parts[0] == "" and parts[1] == "proc" and parts[2]:
                pid = own_pid if parts[2] in ("self", "thread-self") else parts[2]
                if pid.isdigit() and pid != own_pid:
                    return f"reading another process's /proc entry ({seen:.80})"
                if pid == own_pid and _len(parts) >= 4 and parts[3] == "mem":
                    return f"opening process memory ({seen:.80})"
        return None

    def into_trusted(path: Any) -> str | None:
        """Returns why writing to path is refused (a file whose frames the guard would trust), else None."""
        if not _isinstance(path, _str | _bytes):
            return None
        resolved = realpath(fsdecode(path))
        if resolved.startswith(trusted) or resolved.startswith(stdlib):
            return f"writing into the harness's or a library's files ({resolved:.80})"
        return None

    return proc_target, into_trusted


def _make_own_source() -> Callable[[str, tuple[Any, ...]], bool]:
    """Returns excused(event, args): True for a `compile` of exactly the bytes of the file it is named after. That is
    what the import system compiles when it cannot use a .pyc (a read-only site-packages without one: on the H100
    host, a candidate's `from triton.language.extra import libdevice`): the file's own code, as any import runs it.
    What the compile rule keeps out is other code under a harness file's name. Exact bytes only (a subclass could
    answer == with anything). It reads the file, so the hook asks it last, only before refusing."""
    fsdecode, open_code = os.fsdecode, io.open_code
    _, _, _bytes, _, _, _, _, _type, _ = _BUILTINS

    def excused(event: str, args: tuple[Any, ...]) -> bool:
        if event != "compile" or _type(args[0]) is not _bytes:
            return False
        try:
            with open_code(fsdecode(args[1])) as f:
                return f.read() == args[0]
        except OSError:
            return False

    return excused


def _make_rules(state: SimpleNamespace, protected_fds: frozenset[int],
                trusted: tuple[str, ...]) -> Callable[[str, tuple[Any, ...]], tuple[str | None, bool]]:
    fsdecode, this_file = os.fsdecode, __file__
    proc_target, into_trusted = _make_path_rules(protected_fds, trusted)
    _isinstance, _str, _bytes, _len, _, _, _int, _type, _ = _BUILTINS

    def why_always(event: str, args: tuple[Any, ...]) -> tuple[str | None, bool]:
        """Returns (why it would be refused, whether that holds whoever asks while armed)."""
        if event in _INTROSPECTION_EVENTS or event in _NATIVE_EVENTS:
            return f"native code or harness introspection ({event})", False
        if event == "object.__getattr__" and _len(args) > 1 and args[1] in _FRAME_ATTRS:
            return f"frame introspection ({_type(args[0]).__name__}.{args[1]})", False
        if event == "object.__setattr__" and _len(args) > 1 and args[1] in _CODE_ATTRS:
            return f"replacing a function's {args[1]}", False
        if event == "compile" and _len(args) > 1 and _isinstance(args[1], _str | _bytes):
            name = fsdecode(args[1])
            harness = name.startswith(trusted) or name == this_file or name in state.files
            return (f"compiling code under a harness file name ({name:.80})" if harness else None), False
        if event == "open" and args:
            why = proc_target(args[0])
            if why is None and _len(args) > 2 and _isinstance(args[2], _int) and args[2] & _WRITE_FLAGS:
                why = into_trusted(args[0])
            return why, True
        if event in _FILE_WRITE_EVENTS and _len(args) > 1:
            return into_trusted(args[1]), False
        return None, False

    return why_always


def _make_hook(state: SimpleNamespace, protected_fds: frozenset[int],
               trusted_files: frozenset[str]) -> Callable[[str, tuple[Any, ...]], None]:
    fsdecode, basename, local = os.fsdecode, os.path.basename, threading.local()
    trusted = _trusted_roots(trusted_files)
    by_candidate = _make_locator(state, trusted)
    why_always = _make_rules(state, protected_fds, trusted)
    excused = _make_own_source()
    _isinstance, _len, _list, _tuple, _getattr = isinstance, len, list, tuple, getattr

    def refuse(what: str) -> None:
        if _len(state.violations) < 20:
            state.violations.append(what)
        raise PermissionError(f"kernelevolve sandbox: {what} is not allowed in a candidate")

    def check_armed(event: str, args: tuple[Any, ...]) -> None:
        if event in _PROCESS_EVENTS:
            refuse(f"process control ({event})")
        elif event in _SPAWN_EVENTS:
            argv = args[1] if _len(args) > 1 and _isinstance(args[1], _list | _tuple) else []
            program = fsdecode(args[0] or (argv[0] if argv else ""))
            if basename(program) not in ALLOWED_EXECUTABLES:
                shown = " ".join(fsdecode(a) for a in argv[:4]) if argv else program
                refuse(f"starting a subprocess ({event}: {shown:.120})")
        elif event in _NETWORK_EVENTS:
            refuse(f"network access ({event} {args[1:2]!r:.80})")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event not in _ALL_EVENTS or _getattr(local, "on", False):
            return
        local.on = True
        try:
            if state.armed:
                check_armed(event, args)
            why, when_armed = why_always(event, args)
            if why is not None and ((when_armed and state.armed) or by_candidate(1)) and not excused(event, args):
                refuse(why)  # 1: the frame above this hook is the code doing the audited thing
        finally:
            local.on = False

    return hook


def python_thread_count() -> int:
    """Returns the number of live Python threads (including ones started with _thread)."""
    return len(sys._current_frames())


class LaunchCounter:
    """Counts Triton kernel launches (and the streams and names they used) while `active`."""

    def __init__(self, interpreter: bool, stream_of: Callable[[], int] | None = None) -> None:
        self.active = False
        self.count = 0
        self.names: set[str] = set()
        self.foreign_streams = 0
        self.spans: list[tuple[int, int]] = []  # memory ranges of tensors passed to Triton kernels
        self.on_first: Callable[[], None] | None = None  # called at a call's first launch (after any JIT compile)
        self.on_jit: Callable[[float], None] | None = None  # given the seconds of each JIT compile or cache load
        self.around_jit: tuple[Callable[[], None], Callable[[], None]] | None = None  # before/after each JIT
        self.reset_jit()
        self._stream_of = stream_of
        self._expected_stream: int | None = None  # the harness's stream when the call began
        if interpreter:
            self._wrap_interpreter()
        else:
            from triton import knobs

            knobs.runtime.launch_enter_hook.add(self._on_launch)
            self._wrap_jit_run()
            self._time_jit()

    def reset(self) -> None:
        """Zeroes the counters."""
        self.count = 0
        self.foreign_streams = 0
        self.spans = []
        self._expected_stream = self._stream_of() if self._stream_of is not None else None

    def reset_jit(self) -> None:
        """Zeroes the JIT tallies (a new job)."""
        self.jit_loads = 0  # kernels compiled or loaded from Triton's cache (in-memory misses), while active
        self.jit_seconds = {"compile": 0.0, "load": 0.0}  # while active: compile or disk-cache lookup; first load

    def jit_metrics(self) -> dict[str, float]:
        """Returns the JIT tallies as verdict metrics."""
        return {"triton_jit_loads": float(self.jit_loads), "triton_compile_s": self.jit_seconds["compile"],
                "triton_load_s": self.jit_seconds["load"]}

    def wrote(self, span: tuple[int, int]) -> bool:
        """Returns True when a Triton kernel of the current call received memory overlapping span."""
        lo, hi = span
        return any(lo < b_hi and b_lo < hi for b_lo, b_hi in self.spans)

    def _record_spans(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        import torch

        for value in (*args, *kwargs.values()):
            if isinstance(value, torch.Tensor) and value.numel() > 0:
                storage = value.untyped_storage()
                self.spans.append((storage.data_ptr(), storage.data_ptr() + storage.nbytes()))

    def _wrap_jit_run(self) -> None:
        from triton.runtime.jit import JITFunction

        original = JITFunction.run
        counter = self

        def recorded_run(fn: Any, *args: Any, **kwargs: Any) -> Any:
            if counter.active:
                counter._record_spans(args, kwargs)
            return original(fn, *args, **kwargs)

        JITFunction.run = recorded_run

    def _time_jit(self) -> None:
        """Times Triton's JIT: a compile or disk-cache lookup on an in-memory miss (JITFunction._do_compile)
        and a kernel's first load onto the device (CompiledKernel._init_handles). Private methods of Triton:
        where a version lacks them, JIT time stays inside the enclosing phase."""
        from triton.compiler.compiler import CompiledKernel
        from triton.runtime.jit import JITFunction

        counter = self
        perf_counter = time.perf_counter

        def timed(original: Callable[..., Any], kind: str) -> Callable[..., Any]:
            def run(*args: Any, **kwargs: Any) -> Any:
                around = counter.around_jit if counter.active else None
                if around is not None:
                    around[0]()
                start = perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    if around is not None:
                        around[1]()
                    if counter.active:
                        seconds = perf_counter() - start
                        counter.jit_loads += kind == "compile"
                        counter.jit_seconds[kind] += seconds
                        if counter.on_jit is not None:
                            counter.on_jit(seconds)
            return run

        if hasattr(JITFunction, "_do_compile"):
            JITFunction._do_compile = timed(JITFunction._do_compile, "compile")
        if hasattr(CompiledKernel, "_init_handles"):
            CompiledKernel._init_handles = timed(CompiledKernel._init_handles, "load")

    def _on_launch(self, metadata: Any) -> None:
        if not self.active:
            return
        self.count += 1
        if self.count == 1 and self.on_first is not None:
            self.on_first()
        data = metadata.get() if hasattr(metadata, "get") else {}
        name = data.get("name") if isinstance(data, dict) else None
        if name:
            self.names.add(str(name))
        stream = data.get("stream") if isinstance(data, dict) else None
        if stream is not None and self._expected_stream is not None and int(stream) != self._expected_stream:
            self.foreign_streams += 1

    def _wrap_interpreter(self) -> None:
        from triton.runtime import interpreter

        original = interpreter.GridExecutor.__call__
        counter = self

        def counted_call(executor: Any, *args: Any, **kwargs: Any) -> Any:
            if counter.active:
                counter.count += 1
                counter.names.add(getattr(executor.fn, "__name__", "kernel"))
                counter._record_spans(args, kwargs)
            return original(executor, *args, **kwargs)

        interpreter.GridExecutor.__call__ = counted_call
