"""Worker process main: `python -m kernelevolve.eval.worker ...`, started only by sandbox.WorkerProcess.

Start-up order is the trust boundary: limits and the network namespace first, then torch/triton and
the whole harness, then the integrity snapshot; only then is any candidate source accepted.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import logging
import os
import resource
import struct
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000


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


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kernelevolve.eval.worker")
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


def _build_context(args: argparse.Namespace):  # noqa: ANN202 - imports torch lazily on purpose
    import torch  # noqa: F401 - imported before the snapshot so its callables are recorded

    from kernelevolve.eval import judge, measure  # noqa: F401 - the whole harness, before any candidate
    from kernelevolve.eval.integrity import AuditGuard, LaunchCounter, TaintSnapshot
    from kernelevolve.eval.phases import PhaseClock, device_module
    from kernelevolve.eval.platforms import get_platform
    from kernelevolve.eval.runner import WorkerContext
    from kernelevolve.tasks.loader import load_task

    platform = get_platform(args.platform)
    platform.device()
    if platform.interpreter:
        import triton.runtime.interpreter  # noqa: F401 - patched by LaunchCounter
    counter = LaunchCounter(platform.interpreter, stream_of=platform.current_stream)
    task = load_task(args.task)
    guard = AuditGuard(protected_fds=(args.job_fd, args.verdict_fd), trusted_files=(str(task.path),))
    phases = PhaseClock(device_module(platform), prefix="worker.")
    counter.on_jit = functools.partial(phases.carve, "jit")  # Triton's compiles and loads: a phase of their own
    return WorkerContext(task=task, platform=platform, guard=guard, snapshot=TaintSnapshot(), counter=counter,
                         tmpdir=Path.cwd(), file_exchange=args.transport == "file", phases=phases)


def _device_name(device) -> str:  # noqa: ANN001 - a torch.device; torch is imported lazily here
    """Returns the device's marketing name ("NVIDIA H100 80GB HBM3"), or its type where torch has none."""
    import torch

    if device.type == "cuda":
        return str(torch.cuda.get_device_name(device))
    return str(device.type)


def _serve(args: argparse.Namespace, isolated: bool) -> int:
    from kernelevolve.eval import procstate
    from kernelevolve.eval.channel import ChannelClosed, recv_message, send_message
    from kernelevolve.eval.judge import run_job, warm_baselines

    hello = recv_message(args.job_fd)
    start = time.perf_counter()
    try:
        ctx = _build_context(args)
        context_s = time.perf_counter() - start
        if hello.get("staged"):  # the evaluator takes the device's gate before the baselines run on the device
            send_message(args.verdict_fd, {"kind": "ready", "nonce": hello.get("nonce"), "stage": "context"})
            hello = dict(hello, nonce=recv_message(args.job_fd).get("nonce"))
        warming = time.perf_counter()
        warm_baselines(ctx, hello.get("warm_shapes", []), str(hello["baseline"]))  # required: EvalConfig decides
        started = {"context_s": context_s, "baselines_s": time.perf_counter() - warming}
        gc.collect()
        gc.freeze()  # start-up objects (torch, Inductor's compiled baselines) leave the collector's scans
        ctx.initial_state = procstate.capture()
        send_verdict = _verdict_sender(args)
    except Exception:  # noqa: BLE001 - process boundary: report why the worker cannot serve
        send_message(args.verdict_fd, {"kind": "harness_error", "nonce": hello.get("nonce"),
                                       "error": traceback.format_exc()[-4000:]})
        return 3
    import torch
    import triton

    send_message(args.verdict_fd, {"kind": "ready", "nonce": hello.get("nonce"), "network_isolated": isolated,
                                   "torch": torch.__version__, "triton": triton.__version__,
                                   "device_name": _device_name(ctx.platform.device()), "start": started})
    while True:
        try:
            job = recv_message(args.job_fd)
        except ChannelClosed:
            return 0
        if job.get("kind") != "job":
            return 0
        box = {"nonce": job.pop("nonce")}
        try:
            result, recycle = run_job(ctx, job, _conversation(args, send_verdict, box))
        except _Stop:
            return 0
        except Exception:  # noqa: BLE001 - process boundary: a harness failure, not a verdict
            send_message(args.verdict_fd, {"kind": "harness_error", "nonce": box["nonce"],
                                           "error": traceback.format_exc()[-4000:]})
            return 3
        recycle = send_verdict(box["nonce"], result, recycle, {"phase": "final"})
        del box
        if recycle:
            return 0


class _Stop(BaseException):  # noqa: N818 - control flow, not an error: unwinds a job the worker must end
    """The evaluator went away mid-job, or a tainted interim report was replaced by a final verdict."""


def _conversation(args: argparse.Namespace, send_verdict: Callable[..., bool], box: dict[str, str]):  # noqa: ANN202
    """Returns converse(phase, result, outputs) for run_job: one interim report, then the evaluator's answer."""
    from kernelevolve.eval import exchange
    from kernelevolve.eval.channel import ChannelClosed, recv_message

    def converse(phase: str, result: Any, outputs: list[dict[str, Any]]) -> dict[str, Any]:
        if send_verdict(box["nonce"], result, False, {"phase": phase, "outputs": [exchange.wire(o) for o in outputs]}):
            raise _Stop
        try:
            answer = recv_message(args.job_fd)
        except ChannelClosed:
            raise _Stop from None
        box["nonce"] = str(answer.pop("nonce", ""))
        return answer

    return converse


def _verdict_sender(args: argparse.Namespace) -> Callable[..., bool]:
    """Returns send(nonce, result, recycle, extra) -> recycle, bound now, before any candidate exists.

    Right before writing, it re-checks that nothing on the verdict's way out (EvalResult.to_dict,
    dataclasses, json, struct, os, the channel) was replaced; if something was, the verdict is an
    integrity violation written by hand with functions bound here, and the worker is recycled.
    """
    from kernelevolve.core.types import EvalResult
    from kernelevolve.eval.channel import send_message
    from kernelevolve.eval.taint import VERDICT_PATH, TaintSnapshot

    changed, to_dict, fd = TaintSnapshot(VERDICT_PATH).changed, EvalResult.to_dict, args.verdict_fd
    write, header, gc_disable, gc_enable = os.write, struct.Struct(">I"), gc.disable, gc.enable
    platform = _safe(args.platform)

    def send(nonce: str, result: Any, recycle: bool, extra: dict[str, Any]) -> bool:
        gc_disable()  # no candidate finalizer or gc callback may run between the check and the write
        try:
            tainted = changed()
            if not tainted:
                send_message(fd, {"kind": "result", "nonce": nonce, "result": to_dict(result), "recycle": recycle,
                                  **extra})
                return recycle
            reason = _safe("monkeypatching detected before the verdict was sent: " + ", ".join(tainted[:6]))
            body = ('{"kind": "result", "nonce": "' + _safe(nonce) + '", "recycle": true, "phase": "final", '
                    '"result": {"status": "integrity_violation", "reason": "' + reason + '", "platform": "'
                    + platform + '"}}').encode()
            data = header.pack(len(body)) + body
            while data:
                data = data[write(fd, data):]
            return True
        finally:
            gc_enable()

    return send


def _safe(text: str) -> str:
    """Returns text with everything but letters, digits and a little punctuation replaced (JSON-safe by hand)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in " ._,:()-") else "?" for c in text)[:500]


def start(argv: list[str] | None, serve: Callable[[argparse.Namespace, bool], int]) -> int:
    """Parses a worker main's arguments, applies limits and network isolation, then runs serve(args, isolated).

    Every process the sandbox starts (this worker, the referee, compile-only workers) begins here.
    """
    args = _parse(sys.argv[1:] if argv is None else argv)
    _apply_limits(args.address_space_gb)
    isolated = _isolate_network() if args.block_network else False
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return serve(args, isolated)


def main(argv: list[str] | None = None) -> int:
    """Runs the worker until the evaluator closes the job channel or the worker must be recycled."""
    return start(argv, _serve)


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main())
