"""Candidate outputs handed from the worker (untrusted) to the referee (trusted) as data, never as objects.

The worker describes each output in a manifest entry of plain JSON: which case and output it is, its
dtype and size, and where its bytes are. On CUDA/ROCm the bytes stay on the device and travel as an
IPC memory handle (no copy). Otherwise (and for every output with output_transport=file) they go into
a sealed memfd: an anonymous in-memory file in no directory, made immutable (F_SEAL_WRITE/GROW/SHRINK)
before the entry exists, which the referee opens as /proc/<worker pid>/fd/<n> with the pid the
evaluator gives it. Neither the candidate nor any other process can change the bytes after export.
The referee validates every field against what the task expects before it touches the bytes: a
manifest names no Python object, no path of the worker's choosing and no pickled data.
"""

from __future__ import annotations

import base64
import fcntl
import os
import stat
from typing import Any

import torch

from kernelevolve.core.errors import CandidateError

SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.uint8, torch.int16,
    torch.int32, torch.int64, torch.bool)}


class BadExchange(CandidateError):
    """A manifest entry that does not describe a readable output of the expected kind."""


def dtype_name(dtype: torch.dtype) -> str:
    """Returns the manifest's name of a dtype ("float16")."""
    return str(dtype).removeprefix("torch.")


def export(tensor: torch.Tensor, *, case: int, index: int, as_file: bool) -> dict[str, Any]:
    """Returns the manifest entry of one output: a device memory handle, or (as_file) a sealed memfd.

    A device output is copied first (device to device, cheap): the copy, which the caller keeps alive
    until the referee has read it, does not change when the candidate reuses its buffer later. The
    entry's "keep" (the copy) or "keep_fd" (the memfd) is the caller's to hold until the referee replied.
    """
    t = tensor.detach()
    if t.device.type == "cuda" and not as_file:
        t = t.clone(memory_format=torch.contiguous_format)
    elif not t.is_contiguous():
        t = t.contiguous()
    entry: dict[str, Any] = {"case": case, "index": index, "dtype": dtype_name(t.dtype), "size": list(t.shape),
                             "device": t.device.type}
    if t.device.type == "cuda" and not as_file:
        storage = t.untyped_storage()
        device, handle, nbytes, offset, rc_handle, rc_offset, event, event_sync = storage._share_cuda_()
        entry["ipc"] = {"device": int(device), "handle": _b64(handle), "storage_bytes": int(nbytes),
                        "storage_offset_bytes": int(offset), "ref_counter": _b64(rc_handle),
                        "ref_counter_offset": int(rc_offset), "event": _b64(event), "event_sync": bool(event_sync),
                        "tensor_offset": int(t.storage_offset())}
        entry["keep"] = t  # not sent: the caller keeps the exported tensor alive
        return entry
    flat = t.reshape(-1).cpu()
    if flat.numel() and flat.stride(0) != 1:  # e.g. shape (1,) stride (2,): "contiguous", not a byte view
        flat = flat.clone(memory_format=torch.contiguous_format)
    fd = sealed_memfd(f"out_{case}_{index}", memoryview(flat.view(torch.uint8).numpy()).cast("B"))
    entry["fd"] = entry["keep_fd"] = fd
    return entry


def sealed_memfd(name: str, data: memoryview) -> int:
    """Returns a memfd holding data, sealed against any further write, growth or shrinking."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = data
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS | fcntl.F_SEAL_SEAL)
    except OSError:
        os.close(fd)
        raise
    return fd


def wire(entry: dict[str, Any]) -> dict[str, Any]:
    """Returns the entry without its local-only fields (what goes on the channel)."""
    return {k: v for k, v in entry.items() if k not in ("keep", "keep_fd")}


def described(entry: dict[str, Any]) -> tuple[tuple[int, ...], torch.dtype]:
    """Returns the (size, dtype) an entry claims; raises BadExchange when they are not well-formed."""
    got_dtype = DTYPES.get(str(entry.get("dtype")))
    size = entry.get("size")
    if got_dtype is None or not isinstance(size, list) or not all(type(n) is int and n >= 0 for n in size):
        raise BadExchange(f"malformed output description (dtype {str(entry.get('dtype'))[:20]!r})")
    return tuple(size), got_dtype


def open_output(entry: dict[str, Any], *, expected: tuple[tuple[int, ...], torch.dtype], device: torch.device,
                pid: int | None) -> torch.Tensor:
    """Returns the output an entry describes, on device; raises BadExchange when it is not as expected.

    The caller compares `described(entry)` with what the task expects first (an honest wrong shape is
    INCORRECT): nothing of a claimed size is allocated before it matches the reference's.
    """
    shape, dtype = expected
    size, got_dtype = described(entry)
    if got_dtype != dtype or size != tuple(shape):
        raise BadExchange(f"output of size {list(size)[:8]} {dtype_name(got_dtype)}, expected {list(shape)} "
                          f"{dtype_name(dtype)}")
    numel = 1
    for n in size:
        numel *= n
    if "ipc" in entry:
        return _open_ipc(entry["ipc"], dtype, size, numel, device)
    return _open_sealed(entry.get("fd"), dtype, size, numel, device, pid)


def _open_sealed(fd_number: Any, dtype: torch.dtype, size: tuple[int, ...], numel: int, device: torch.device,
                 pid: int | None) -> torch.Tensor:
    if pid is None or type(fd_number) is not int or fd_number < 0:
        raise BadExchange(f"output descriptor {str(fd_number)[:20]!r} is not one the harness hands over")
    nbytes = numel * torch.empty(0, dtype=dtype).element_size()
    try:  # O_NONBLOCK: a FIFO or socket the candidate opened must not block the referee
        fd = os.open(f"/proc/{pid}/fd/{fd_number}", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise BadExchange(f"output descriptor {fd_number} of the worker cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or _seals(fd) & SEALS != SEALS:
            raise BadExchange(f"output descriptor {fd_number} is not a sealed output the harness wrote")
        if info.st_size != nbytes:
            raise BadExchange(f"output descriptor {fd_number} holds {info.st_size} bytes, expected {nbytes}")
        data = bytearray(nbytes)
        view, got = memoryview(data), 0
        while got < nbytes:
            n = os.preadv(fd, [view[got:]], got)
            if n == 0:
                raise BadExchange(f"output descriptor {fd_number} ended early")
            got += n
    finally:
        os.close(fd)
    flat = torch.frombuffer(data, dtype=torch.uint8) if nbytes else torch.empty(0, dtype=torch.uint8)
    return flat.view(dtype).reshape(size).to(device)


def _seals(fd: int) -> int:
    try:
        return fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    except OSError:  # not a memfd (or a file system without seals)
        return 0


def _open_ipc(ipc: Any, dtype: torch.dtype, size: tuple[int, ...], numel: int, device: torch.device) -> torch.Tensor:
    if device.type != "cuda" or not isinstance(ipc, dict):
        raise BadExchange("a device memory handle for a referee that is not on a CUDA device")
    try:
        fields = (int(ipc["device"]), _unb64(ipc["handle"]), int(ipc["storage_bytes"]),
                  int(ipc["storage_offset_bytes"]), _unb64(ipc["ref_counter"]), int(ipc["ref_counter_offset"]),
                  _unb64(ipc["event"]), bool(ipc["event_sync"]))
        offset = int(ipc["tensor_offset"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadExchange(f"malformed device memory handle ({exc})") from None
    itemsize = torch.empty(0, dtype=dtype).element_size()
    if offset < 0 or (offset + numel) * itemsize > fields[2]:
        raise BadExchange(f"device memory handle covers {fields[2]} bytes, fewer than the output needs")
    try:
        storage = torch.UntypedStorage._new_shared_cuda(*fields)
    except RuntimeError as exc:
        raise BadExchange(f"device memory handle could not be opened ({str(exc).splitlines()[0][:200]})") from None
    return torch.empty((0,), dtype=dtype, device=storage.device).set_(storage, offset, size)  # contiguous strides


def _b64(data: Any) -> str:
    return base64.b64encode(bytes(data or b"")).decode()


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected base64 text")
    return base64.b64decode(text.encode(), validate=True)
