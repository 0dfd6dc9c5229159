"""Run-time integrity checks inside a worker: an audit-hook guard, a monkeypatch detector, a launch counter.

Everything here is built before any candidate code is imported. The guard is armed only while
candidate code runs (import, construction, forward); the harness's own work (references, torch.compile
baselines, Triton's ptxas calls) runs with it disarmed.
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

# Events refused (PermissionError) and reported whenever candidate code runs.
_PROCESS_EVENTS = {"os.fork", "os.forkpty", "os.system", "os.kill", "os.killpg", "pty.spawn", "os.spawn",
                   "os.startfile"}
_SPAWN_EVENTS = {"subprocess.Popen", "os.posix_spawn", "os.exec"}  # (program, argv, ...): allow-listed compilers
_NETWORK_EVENTS = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                   "socket.gethostbyname", "socket.gethostbyaddr", "urllib.Request"}
_NATIVE_EVENTS = {"ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function",
                  "ctypes.addressof", "ctypes.string_at", "ctypes.wstring_at", "ctypes.cdata"}
# Reaching the harness's frames or heap is refused only when candidate code itself asks.
_INTROSPECTION_EVENTS = {"sys._getframe", "sys._current_frames", "gc.get_objects", "gc.get_referrers",
                         "gc.get_referents", "sys.settrace", "sys.setprofile", "sys._getframemodulename"}
_STDLIB = sysconfig.get_paths()["stdlib"]
# Triton and torch compile kernels with these; a candidate may trigger them through a launch.
ALLOWED_EXECUTABLES = {"ptxas", "ptxas-blackwell", "cuobjdump", "nvdisasm", "nvlink", "fatbinary", "gcc", "cc",
                       "g++", "c++", "clang", "clang++", "ld", "ld.lld", "ldconfig", "hipcc", "amdclang",
                       "lld", "rocm_agent_enumerator", "nvidia-smi", "uname", "file", "nvcc"}


class AuditGuard:
    """A sys.addaudithook hook (never removable) that refuses dangerous operations while armed."""

    def __init__(self, protected_fds: Iterable[int] = ()) -> None:
        self.armed = False
        self.candidate_files: set[str] = set()
        self.violations: list[str] = []
        self._protected = {f"/proc/self/fd/{fd}" for fd in protected_fds}
        self._protected_fds = set(protected_fds)
        self._busy = threading.local()
        sys.addaudithook(self._hook)

    def take_violations(self) -> list[str]:
        """Returns the violations recorded since the last call and clears them."""
        found, self.violations = self.violations, []
        return found

    def _refuse(self, what: str) -> None:
        if len(self.violations) < 20:
            self.violations.append(what)
        raise PermissionError(f"kernelevolve sandbox: {what} is not allowed in a candidate")

    def _called_by_candidate(self) -> bool:
        """True when the first caller outside the standard library is candidate code (inspect.stack() too)."""
        frame = sys._getframe(2)  # 0 = this, 1 = _check, 2 = _hook, then the audited call's caller
        for _ in range(12):
            if frame is None:
                return False
            filename = frame.f_code.co_filename
            if filename in self.candidate_files:
                return True
            if not filename.startswith(_STDLIB) and filename != __file__:
                return False
            frame = frame.f_back
        return False

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.armed or getattr(self._busy, "on", False):
            return
        self._busy.on = True
        try:
            self._check(event, args)
        finally:
            self._busy.on = False

    def _check(self, event: str, args: tuple[Any, ...]) -> None:  # noqa: C901 - one branch per event family
        if event in _PROCESS_EVENTS:
            self._refuse(f"process control ({event})")
        elif event in _SPAWN_EVENTS:
            argv = args[1] if len(args) > 1 and isinstance(args[1], list | tuple) else []
            program = os.fsdecode(args[0] or (argv[0] if argv else ""))
            if os.path.basename(program) not in ALLOWED_EXECUTABLES:
                shown = " ".join(os.fsdecode(a) for a in argv[:4]) if argv else program
                self._refuse(f"starting a subprocess ({event}: {shown:.120})")
        elif event in _NETWORK_EVENTS:
            self._refuse(f"network access ({event} {args[1:2]!r:.80})")
        elif event in _NATIVE_EVENTS or event in _INTROSPECTION_EVENTS:
            if self._called_by_candidate():
                self._refuse(f"native code or harness introspection ({event})")
        elif event == "open":
            path = args[0]
            if isinstance(path, int) and path in self._protected_fds or str(path) in self._protected:
                self._refuse("opening the verdict channel")
            if isinstance(path, str) and path.startswith("/proc/") and path.endswith("/mem"):
                self._refuse(f"opening process memory ({path})")


def _watched_objects() -> list[tuple[str, Any]]:
    import torch
    import torch.nn.functional as F  # noqa: N812 - torch's own spelling
    import triton

    watched: list[tuple[str, Any]] = [("torch", torch), ("torch.Tensor", torch.Tensor), ("F", F),
                                      ("torch.nn.Module", torch.nn.Module), ("triton", triton),
                                      ("time", __import__("time")), ("os", os), ("builtins", __import__("builtins"))]
    if hasattr(torch, "cuda"):
        watched += [("torch.cuda", torch.cuda), ("torch.cuda.Event", torch.cuda.Event)]
    import triton.testing
    watched.append(("triton.testing", triton.testing))
    for name, module in list(sys.modules.items()):
        if name.startswith("kernelevolve.eval") or name.startswith("triton.runtime"):
            watched.append((name, module))
    return watched


class TaintSnapshot:
    """Identities of the callables the judge relies on, taken before any candidate is imported."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        for prefix, obj in _watched_objects():
            for attr in dir(obj):
                try:
                    value = inspect_attr(obj, attr)
                except AttributeError:
                    continue
                if callable(value):
                    self._ids[f"{prefix}.{attr}"] = id(value)
        self._library_impls = _library_impl_count()

    def changed(self) -> list[str]:
        """Returns the names whose identity changed since the snapshot (monkeypatches), plus torch hooks."""
        current = TaintSnapshot.__new__(TaintSnapshot)
        current._ids = {}
        for prefix, obj in _watched_objects():
            for attr in dir(obj):
                key = f"{prefix}.{attr}"
                if key in self._ids:
                    try:
                        current._ids[key] = id(inspect_attr(obj, attr))
                    except AttributeError:
                        current._ids[key] = -1
        found = [k for k, v in current._ids.items() if self._ids.get(k) != v]
        found += _active_torch_modes()
        if _library_impl_count() != self._library_impls:
            found.append("torch.library (an aten operator was overridden)")
        return sorted(found)


def inspect_attr(obj: Any, attr: str) -> Any:
    """Returns obj.attr without triggering descriptors of class attributes (static lookup when possible)."""
    import inspect

    return inspect.getattr_static(obj, attr)


def _library_impl_count() -> int:
    """Returns how many Python kernels override aten operators (torch-internal namespaces register lazily)."""
    import torch.library

    return sum(1 for name in getattr(torch.library, "_impls", ()) if str(name).startswith("aten/"))


def _active_torch_modes() -> list[str]:
    import torch

    found = []
    if torch._C._len_torch_function_stack() > 0:
        found.append("a TorchFunctionMode is active")
    if torch._C._len_torch_dispatch_stack() > 0:
        found.append("a TorchDispatchMode is active")
    return found


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
        self._stream_of = stream_of
        self._expected_stream: int | None = None  # the harness's stream when the call began
        if interpreter:
            self._wrap_interpreter()
        else:
            from triton import knobs

            knobs.runtime.launch_enter_hook.add(self._on_launch)
            self._wrap_jit_run()

    def reset(self) -> None:
        """Zeroes the counters."""
        self.count = 0
        self.foreign_streams = 0
        self.spans = []
        self._expected_stream = self._stream_of() if self._stream_of is not None else None

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

    def _on_launch(self, metadata: Any) -> None:
        if not self.active:
            return
        self.count += 1
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
