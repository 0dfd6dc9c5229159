"""The shapes of the messages that cross a process boundary of the judge.

The evaluator side and the sandboxed side both import this module, never each other: what one side sends
and the other reads is defined here once.
"""

from __future__ import annotations

import enum

REPORT_KEY = "kernelevolve_profile"  # the profiled child (profile/main.py) prints one JSON line under this key


class PrecompileStatus(enum.StrEnum):
    """How a compile-only job ended (advice only; the judge's verdict decides)."""

    OK = "ok"
    COMPILE_ERROR = "compile_error"
    RUNTIME_ERROR = "runtime_error"
    INTEGRITY_VIOLATION = "integrity_violation"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


class InputPlacement(enum.StrEnum):
    """Where a compile-only worker puts the inputs it calls forward with.

    host: CPU tensors (no device memory, no device work; Triton specializes on dtype and 16-byte
    alignment, which CPU allocations share with CUDA ones). device: the platform's device, as the
    judge does (allocations and torch ops of the forward then share the device with the judge).
    """

    host = "host"
    device = "device"
