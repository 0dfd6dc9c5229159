"""Process-wide state a candidate could change to reach the next candidate (or later harness code).

Hostile changes have no use in a kernel and run candidate code outside the guarded stretches (a
signal handler or interval timer fires inside harness code; trace, exception and gc hooks see the
harness's frames): they are violations, undone at once. Benign ones (cwd, environment, torch's
global flags, sys.path) are only reported, so the worker is recycled before the next candidate.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import sys
import threading
from typing import Any

_TIMERS = (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)
_SIGNALS = tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))
_HOOK_NAMES = ("excepthook", "unraisablehook", "displayhook", "breakpointhook")
_getsignal, _signal, _setitimer, _getitimer = signal.getsignal, signal.signal, signal.setitimer, signal.getitimer


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProcessState:
    """What the worker looked like before a candidate ran."""

    handlers: dict[int, Any]
    hooks: tuple[Any, ...]
    gc_callbacks: tuple[int, ...]
    meta_path: tuple[int, ...]
    path_hooks: tuple[int, ...]
    benign: dict[str, Any]


def _benign() -> dict[str, Any]:
    import torch

    found: dict[str, Any] = {"cwd": os.getcwd(), "environ": dict(os.environ), "sys.path": tuple(sys.path),
                             "recursionlimit": sys.getrecursionlimit(), "torch.default_dtype": torch.get_default_dtype(),
                             "torch.num_threads": torch.get_num_threads(), "torch.grad": torch.is_grad_enabled(),
                             "torch.deterministic": torch.are_deterministic_algorithms_enabled()}
    backends = torch.backends
    found["tf32.matmul"] = bool(backends.cuda.matmul.allow_tf32)
    found["tf32.cudnn"] = bool(backends.cudnn.allow_tf32)
    found["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    return found


def capture() -> ProcessState:
    """Returns the current process state (a few microseconds)."""
    return ProcessState(handlers={s: _getsignal(s) for s in _SIGNALS}, hooks=capture_hooks(),
                        gc_callbacks=tuple(id(c) for c in gc.callbacks), meta_path=tuple(id(f) for f in sys.meta_path),
                        path_hooks=tuple(id(h) for h in sys.path_hooks), benign=_benign())


def restore_hostile(before: ProcessState) -> list[str]:
    """Cancels interval timers, restores signal handlers and hooks; returns what the candidate had changed."""
    found = []
    for timer in _TIMERS:
        if _getitimer(timer) != (0.0, 0.0):
            _setitimer(timer, 0.0)
            found.append("setting an interval timer (signal.setitimer/alarm)")
    for sig, handler in before.handlers.items():
        if _getsignal(sig) is not handler and handler is not None:
            try:
                _signal(sig, handler)
            except (OSError, ValueError, TypeError):
                continue
            found.append(f"installing a signal handler ({signal.Signals(sig).name})")
    now = capture_hooks()
    if now != before.hooks:
        for name, value in zip(_HOOK_NAMES, before.hooks, strict=False):
            setattr(sys, name, value)
        threading.excepthook = before.hooks[len(_HOOK_NAMES)]
        sys.settrace(before.hooks[-2])
        sys.setprofile(before.hooks[-1])
        found.append("installing an interpreter hook (excepthook/trace/profile)")
    if tuple(id(c) for c in gc.callbacks) != before.gc_callbacks:
        gc.callbacks[:] = [c for c in gc.callbacks if id(c) in before.gc_callbacks]
        found.append("adding a gc callback")
    if tuple(id(f) for f in sys.meta_path) != before.meta_path or \
            tuple(id(h) for h in sys.path_hooks) != before.path_hooks:
        found.append("changing the import system (sys.meta_path/path_hooks)")
    return sorted(set(found))


def capture_hooks() -> tuple[Any, ...]:
    """Returns the interpreter-wide hooks (same order as ProcessState.hooks)."""
    return (*(getattr(sys, name, None) for name in _HOOK_NAMES), threading.excepthook, sys.gettrace(),
            sys.getprofile())


def benign_changes(before: ProcessState) -> list[str]:
    """Returns the names of the benign global settings that differ from `before` (the worker is recycled)."""
    now = _benign()
    return sorted(k for k, v in before.benign.items() if now.get(k) != v)
