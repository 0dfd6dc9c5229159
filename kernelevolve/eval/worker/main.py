"""Worker process main: `python -m kernelevolve.eval.worker.main ...`, started only by sandbox.WorkerProcess.

Start-up order is the trust boundary: limits and the network namespace first, then torch/triton and
the whole harness, then the integrity snapshot; only then is any candidate source accepted.
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import struct
import sys
import time
from pathlib import Path
from typing import Any

from kernelevolve.eval.wire.channel import ChannelClosed, recv_message, send_message
from kernelevolve.eval.wire.messages import BadMessage, EvalJob, Hello, NextStep, Ready, Stage
from kernelevolve.eval.wire.serve import Outcome, Sender, Session, Stop, Turn, device_name, serve, start

logger = logging.getLogger(__name__)


def _build_context(args: argparse.Namespace, compiles: bool):  # noqa: ANN202 - imports torch lazily on purpose
    import torch  # noqa: F401 - imported before the snapshot so its callables are recorded

    from kernelevolve.eval.phases import PhaseClock, device_module
    from kernelevolve.eval.platforms import get_platform
    from kernelevolve.eval.worker import (
        job,  # noqa: F401 - the whole harness, before any candidate
        )
    from kernelevolve.eval.worker.candidate import WorkerContext
    from kernelevolve.eval.worker.guard.integrity import AuditGuard, LaunchCounter, TaintSnapshot
    from kernelevolve.tasks.loader import load_task

    platform = get_platform(args.platform)
    platform.device()
    if platform.interpreter:
        import triton.runtime.interpreter  # noqa: F401 - patched by LaunchCounter
    elif compiles:  # torch.compile baselines: Inductor's import (~6 s on an H100 host) before the device's gate
        import torch._inductor.compile_fx  # noqa: F401
    counter = LaunchCounter(platform.interpreter, stream_of=platform.current_stream)
    task = load_task(args.task)
    guard = AuditGuard(protected_fds=(args.job_fd, args.verdict_fd), trusted_files=(str(task.path),))
    phases = PhaseClock(device_module(platform), prefix="worker.")
    counter.on_jit = functools.partial(phases.carve, "jit")  # Triton's compiles and loads: a phase of their own
    return WorkerContext(task=task, platform=platform, guard=guard, snapshot=TaintSnapshot(), counter=counter,
                         tmpdir=Path.cwd(), file_exchange=args.transport == "file", phases=phases)


def _open(args: argparse.Namespace, isolated: bool, hello: Hello, turn: Turn) -> Session:
    """Builds the harness, warms the baselines and snapshots the process; returns the worker's session."""
    if not hello.baseline:  # EvalConfig decides which baseline a candidate is timed against, never a default here
        raise BadMessage("the worker's hello names no baseline")
    from kernelevolve.eval.worker.guard import procstate
    from kernelevolve.eval.worker.job import run_job, warm_baselines

    began = time.perf_counter()
    ctx = _build_context(args, hello.baseline == "compile" and bool(hello.warm_shapes))
    context_s = time.perf_counter() - began
    if hello.staged:  # the evaluator takes the device's gate before the baselines run on the device
        send_message(args.verdict_fd, {**Ready(stage=Stage.context).to_wire(), "nonce": turn.nonce})
        turn.nonce = recv_message(args.job_fd).get("nonce")
    warming = time.perf_counter()
    waited = warm_baselines(ctx, hello.warm_shapes, hello.baseline, ahead_s=hello.ahead_s)
    started = {"context_s": context_s, "baselines_s": time.perf_counter() - warming - waited}
    if hello.ahead_s:  # the time it sat waiting for the children's compiles (eval/baseline_ahead.py)
        started["baseline_children_s"] = waited
    gc.collect()
    gc.freeze()  # start-up objects (torch, Inductor's compiled baselines) leave the collector's scans
    ctx.initial_state = procstate.capture()
    send_verdict = _verdict_sender(args)
    import torch
    import triton

    ready = Ready(network_isolated=isolated, torch=torch.__version__, triton=triton.__version__,
                  device_name=device_name(ctx.platform.device()), start=started)

    def handle(job: dict[str, Any], turn: Turn) -> Outcome:
        result, recycle = run_job(ctx, EvalJob.from_wire(job), _conversation(args, send_verdict, turn))
        return Outcome(result, recycle, {"phase": "final"})

    return Session(ready=ready, handle=handle, send=send_verdict)


def _conversation(args: argparse.Namespace, send_verdict: Sender, turn: Turn):  # noqa: ANN202
    """Returns converse(phase, result, outputs) for run_job: one interim report, then the evaluator's answer."""
    from kernelevolve.eval.wire import exchange

    def converse(phase: str, result: Any, outputs: list[dict[str, Any]]) -> NextStep:
        if send_verdict(turn.nonce, result, False, {"phase": phase, "outputs": [exchange.wire(o) for o in outputs]}):
            raise Stop
        try:
            answer = recv_message(args.job_fd)
        except ChannelClosed:
            raise Stop from None
        turn.nonce = str(answer.pop("nonce", ""))
        return NextStep.from_wire(answer)

    return converse


def _verdict_sender(args: argparse.Namespace) -> Sender:
    """Returns send(nonce, result, recycle, extra) -> recycle, bound now, before any candidate exists.

    Right before writing, it re-checks that nothing on the verdict's way out (EvalResult.to_dict,
    dataclasses, json, struct, os, the channel) was replaced; if something was, the verdict is an
    integrity violation written by hand with functions bound here, and the worker is recycled.
    """
    from kernelevolve.core.types import EvalResult
    from kernelevolve.eval.worker.guard.taint import VERDICT_PATH, TaintSnapshot

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


def _serve(args: argparse.Namespace, isolated: bool) -> int:
    from kernelevolve.eval.worker import job  # noqa: F401 - the harness's imports (torch) stay out of the start-up's context_s

    return serve(args, functools.partial(_open, args, isolated))


def main(argv: list[str] | None = None) -> int:
    """Runs the worker until the evaluator closes the job channel or the worker must be recycled."""
    return start(argv, _serve, prog="kernelevolve.eval.worker.main")


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main())
