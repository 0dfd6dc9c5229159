"""The life of every sandboxed main (worker, referee, compile-only worker): start-up, hello, then jobs.

`start` applies what must hold before anything else is imported (resource limits, the network namespace),
then `serve` answers the evaluator's hello with a `ready` (or a `harness_error` when the process cannot
serve) and hands each job to the main's handler until the channel closes, a handler asks to be recycled,
or the harness itself fails. Written once so that the nonce rule (a reply carries the nonce of the last
message received) and what a harness failure looks like on the wire are the same for every process.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import logging
import os
import resource
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from kernelevolve.eval.wire.channel import ChannelClosed, recv_message, send_message
from kernelevolve.eval.wire.messages import Hello, Ready

logger = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000
ERROR_CHARS = 4000  # the tail of a harness traceback the evaluator gets (it lands in a verdict's reason)
HARNESS_FAILED = 3  # exit code of a main whose harness failed (the evaluator reads the harness_error first)


@dataclasses.dataclass
class Turn:
    """The nonce a reply must carry: the hello's, then each job's, renewed by every answer within a job."""

    nonce: Any


class Stop(BaseException):  # noqa: N818 - control flow, not an error: unwinds a job the process must end
    """Raised by a handler when the evaluator went away mid-job or the process must exit without replying."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A handled job: the payload of its `result` reply, whether the process must be recycled after it, and
    further top-level fields of the reply."""

    result: Any
    recycle: bool = False
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


Sender = Callable[[Any, Any, bool, dict[str, Any]], bool]  # (nonce, result, recycle, extra) -> recycle


@dataclasses.dataclass(frozen=True)
class Session:
    """What a main's start-up built: its ready message, its job handler and its result sender."""

    ready: Ready
    handle: Callable[[dict[str, Any], Turn], Outcome]
    send: Sender


Opener = Callable[[Hello, Turn], Session]


def result_sender(fd: int) -> Sender:
    """Returns send(nonce, result, recycle, extra) writing a plain `result` reply to fd; it returns recycle."""

    def send(nonce: Any, result: Any, recycle: bool, extra: dict[str, Any]) -> bool:
        send_message(fd, {"kind": "result", "nonce": nonce, "result": result, "recycle": recycle, **extra})
        return recycle

    return send


def serve(args: argparse.Namespace, open_session: Opener) -> int:
    """Answers the hello, then serves jobs; returns the process's exit code (0, or HARNESS_FAILED).

    open_session(hello, turn) builds the process's state; it may talk to the evaluator itself (a staged
    start-up), renewing turn.nonce. Any exception it or a handler raises is reported as a harness_error
    carrying the current nonce: the evaluator decides what a harness failure means, never this process.
    """
    hello = recv_message(args.job_fd)
    turn = Turn(hello.get("nonce"))
    try:
        session = open_session(Hello.from_wire(hello), turn)
    except Exception:  # noqa: BLE001 - process boundary: report why the process cannot serve
        return _harness_error(args.verdict_fd, turn)
    send_message(args.verdict_fd, {**session.ready.to_wire(), "nonce": turn.nonce})
    while True:
        try:
            job = recv_message(args.job_fd)
        except ChannelClosed:
            return 0
        if job.get("kind") != "job":
            return 0
        turn = Turn(job.pop("nonce", ""))
        try:
            done = session.handle(job, turn)
        except Stop:
            return 0
        except Exception:  # noqa: BLE001 - process boundary: a harness failure, not a verdict
            return _harness_error(args.verdict_fd, turn)
        if session.send(turn.nonce, done.result, done.recycle, done.extra):
            return 0


def _harness_error(fd: int, turn: Turn) -> int:
    send_message(fd, {"kind": "harness_error", "nonce": turn.nonce, "error": traceback.format_exc()[-ERROR_CHARS:]})
    return HARNESS_FAILED


def device_name(device: Any) -> str:
    """Returns the device's marketing name ("NVIDIA H100 80GB HBM3"), or its type where torch has none."""
    import torch

    if device.type == "cuda":
        return str(torch.cuda.get_device_name(device))
    return str(device.type)


def start(argv: list[str] | None, serve_fn: Callable[[argparse.Namespace, bool], int], prog: str) -> int:
    """Parses a sandboxed main's arguments, applies limits and network isolation, then runs serve_fn(args, isolated).

    Every process the sandbox starts (the worker, the referee, compile-only workers) begins here, before
    torch or any of the harness is imported.
    """
    args = _parse(sys.argv[1:] if argv is None else argv, prog)
    _apply_limits(args.address_space_gb)
    isolated = _isolate_network() if args.block_network else False
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return serve_fn(args, isolated)


def _apply_limits(address_space_gb: float) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 2**30, 4 * 2**30))  # no single file above 4 GiB
    if address_space_gb > 0:
        limit = int(address_space_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _isolate_network() -> bool:
    """Moves this process into a fresh network namespace (only loopback, down) when running as root."""
    if os.geteuid() != 0:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.unshare(CLONE_NEWNET) == 0


def _parse(argv: list[str], prog: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--task", required=True)
    parser.add_argument("--platform", required=True)
    parser.add_argument("--job-fd", type=int, required=True)
    parser.add_argument("--verdict-fd", type=int, required=True)
    parser.add_argument("--address-space-gb", type=float, default=0.0)
    parser.add_argument("--block-network", action="store_true")
    parser.add_argument("--transport", choices=("auto", "file"), default="auto",
                        help="how outputs reach the referee: auto = device memory handles for CUDA/ROCm tensors, else sealed "
                             "memfds; file = always memfds (the evaluator decides, see Evaluator._file_exchange)")
    return parser.parse_args(argv)
