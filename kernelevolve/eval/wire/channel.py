"""Length-prefixed JSON messages over inherited pipe fds: the only way a verdict leaves a worker.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. The evaluator
tags every job with a fresh nonce and accepts a reply only when it carries that nonce, so text a
candidate prints, or its exit code, never counts as a verdict.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

from kernelevolve.core.errors import SandboxError

_HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a verdict is a few KB; anything near this is garbage


class ChannelClosed(SandboxError):
    """The other end closed the pipe (the worker died, or the evaluator went away)."""


class ChannelTimeout(SandboxError):
    """No complete message arrived before the deadline."""


class MalformedMessage(SandboxError):
    """Bytes on the channel that are not a well-formed frame (something other than the harness wrote)."""


def send_message(fd: int, message: dict[str, Any]) -> None:
    """Writes one framed JSON message to fd (blocking until all bytes are written)."""
    data = json.dumps(message).encode()
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChannelTimeout(f"timed out waiting for {remaining} more bytes")
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if not ready:
                continue
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise ChannelClosed("peer closed the channel")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_message(fd: int, deadline: float | None = None) -> dict[str, Any]:
    """Returns the next framed message; raises ChannelTimeout, ChannelClosed or MalformedMessage."""
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if size > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"frame of {size} bytes exceeds {MAX_MESSAGE_BYTES}")
    body = _read_exact(fd, size, deadline)
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedMessage(f"frame is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise MalformedMessage(f"frame is a {type(message).__name__}, expected an object")
    return message


def wait_readable(fd: int, timeout_s: float) -> bool:
    """Returns True when fd has data (or EOF) within timeout_s seconds."""
    ready, _, _ = select.select([fd], [], [], max(timeout_s, 0.0))
    return bool(ready)
