"""Compile-only workers: fill the shared Triton cache for queued candidates while the device is busy timing.

`python -m kernelevolve.eval.precompile` is started by sandbox.WorkerProcess exactly like the judge's
worker (same arguments, scrubbed environment, private dir, limits, nonce-framed protocol, and the same
TRITON_CACHE_DIR when given the same workdir). For each job it imports the candidate under the audit
guard, builds ModelNew per shape like the judge (INIT_SEED, task inputs) and calls forward with every
Triton launch turned into a compile (`JITFunction.run(..., warmup=True)`) and every @triton.autotune
config compiled without being timed. Nothing is launched and nothing on the device is touched: inputs
stay on the host by default, where Triton only reads their dtype and pointer alignment (the same
specialization CUDA allocations get), so compiles never share the device with the judge's timing.

Its report is advice, never a verdict: outputs of such calls are garbage, and the judge still imports,
compiles (a cache hit), checks and times every candidate itself. The pool side is precompile_pool.py.
"""

from __future__ import annotations

import argparse
import enum
import gc
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MODULE = "kernelevolve.eval.precompile"
_MODULE_PREFIX = "kernelevolve_candidate_"


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


class _Tally:
    """Kernels compiled (by hash) and seconds spent compiling during one job."""

    def __init__(self) -> None:
        self.kernels: set[str] = set()
        self.seconds = 0.0
        self.skipped = 0  # autotune configs the real autotuner would skip too (out of resources, ptxas)


def install_warmup_mode(tally: _Tally) -> None:
    """Makes every Triton launch in this process compile without launching, autotune configs included.

    Called once, before any candidate: a compile-only worker never needs a real launch.
    """
    from triton.compiler.errors import CompileTimeAssertionFailure
    from triton.runtime.autotuner import Autotuner
    from triton.runtime.errors import OutOfResources, PTXASError
    from triton.runtime.jit import JITFunction

    original = JITFunction.run
    perf_counter = time.perf_counter

    def compile_only(fn: Any, *args: Any, grid: Any, warmup: bool, **kwargs: Any) -> Any:
        start = perf_counter()
        try:
            kernel = original(fn, *args, grid=grid, warmup=True, **kwargs)
            _build_launcher(kernel)
        finally:
            tally.seconds += perf_counter() - start
        tally.kernels.add(str(getattr(kernel, "hash", id(kernel))))
        return kernel

    def compile_every_config(tuner: Any, *args: Any, **kwargs: Any) -> None:
        tuner.nargs = dict(zip(tuner.arg_names, args, strict=False))
        configs = tuner.prune_configs(kwargs) if len(tuner.configs) > 1 else tuner.configs
        for config in configs:  # what Autotuner.run would time, compiled only (no do_bench, no pre_hook)
            try:
                tuner.fn.run(*args, **kwargs, **config.all_kwargs())
            except (OutOfResources, CompileTimeAssertionFailure, PTXASError):
                tally.skipped += 1
        tuner.nargs = None

    JITFunction.run = compile_only
    Autotuner.run = compile_every_config


def _build_launcher(kernel: Any) -> None:
    """Builds the compiled kernel's host-side launcher as its first launch would, without loading the kernel
    onto the device: where Triton compiles launchers per argument signature (a C extension cached beside the
    kernels), the judge's first launch then finds it in the shared cache too."""
    from triton.runtime import driver

    launcher_cls = getattr(driver.active, "launcher_cls", None)
    if launcher_cls is not None and hasattr(kernel, "src") and hasattr(kernel, "metadata"):
        launcher_cls(kernel.src, kernel.metadata)


def _build_context(args: argparse.Namespace):  # noqa: ANN202 - imports torch lazily on purpose
    import torch  # noqa: F401 - imported before the guard so its callables load outside candidate code

    from kernelevolve.eval.integrity import AuditGuard, LaunchCounter, TaintSnapshot
    from kernelevolve.eval.platforms import get_platform
    from kernelevolve.eval.runner import WorkerContext
    from kernelevolve.tasks.loader import load_task

    platform = get_platform(args.platform)
    if platform.interpreter:
        import triton.runtime.interpreter  # noqa: F401 - patched by LaunchCounter
    task = load_task(args.task)
    guard = AuditGuard(protected_fds=(args.job_fd, args.verdict_fd), trusted_files=(str(task.path),))
    return WorkerContext(task=task, platform=platform, guard=guard, snapshot=TaintSnapshot(),
                         counter=LaunchCounter(platform.interpreter), tmpdir=Path.cwd())


_BUILT: dict[tuple[str, str], list[Any]] = {}  # (shape, device) -> the harness's inputs, built once per worker


def _shape_inputs(ctx: Any, shape: str, device: Any) -> tuple[list[Any], list[Any]]:
    """Returns (init inputs, forward inputs) of a shape: fresh copies of inputs the harness built once per
    worker (a compile-only job needs their shapes, dtypes and alignment; rebuilding tens of millions of
    random values per job would cost more host time than the compile)."""
    from kernelevolve.eval.cases import to_device

    key = (shape, str(device))
    if key not in _BUILT:
        _BUILT[key] = to_device(ctx.task.make_inputs(shape, 0, device=device), device)
    return ctx.task.make_init_inputs(shape), to_device(_BUILT[key], device)


def compile_job(ctx: Any, job: dict[str, Any], tally: _Tally) -> dict[str, Any]:
    """Returns {status, compiled, compile_s, skipped_configs, error?} for one candidate; never raises CheckFailed."""
    import torch

    from kernelevolve.eval.cases import INIT_SEED
    from kernelevolve.eval.correctness import CheckFailed
    from kernelevolve.eval.runner import candidate_code, import_candidate, trim

    tally.kernels, tally.seconds, tally.skipped = set(), 0.0, 0
    on_device = job.get("inputs") == InputPlacement.device or ctx.platform.interpreter
    device = ctx.platform.device() if on_device else torch.device("cpu")
    status, error = PrecompileStatus.OK, None
    try:
        shapes = [(shape, *_shape_inputs(ctx, shape, device)) for shape in job["shapes"]]
        cls = import_candidate(ctx, job["source"], ctx.jobs_done)
        for shape, init_inputs, inputs in shapes:
            with candidate_code(ctx, f"construction (shape {shape})"):
                torch.manual_seed(INIT_SEED)
                model = cls(*init_inputs).to(device)
            if ctx.platform.interpreter:
                continue  # the interpreter compiles nothing; import and construction are the checks
            with candidate_code(ctx, f"compile-only forward (shape {shape})"), torch.no_grad():
                model(*inputs)  # outputs are garbage (nothing was launched): never looked at
    except CheckFailed as failure:
        status = PrecompileStatus(failure.status.value) if failure.status.value in set(PrecompileStatus) \
            else PrecompileStatus.CRASHED
        text = getattr(failure, "__traceback_text__", None)
        error = failure.reason + (f"\n{trim(text, int(job.get('error_chars', 2000)))}" if text else "")
    finally:
        ctx.jobs_done += 1
        _forget_candidates()
    result = {"status": str(status), "compiled": len(tally.kernels), "compile_s": tally.seconds,
              "skipped_configs": tally.skipped}
    if error is not None:
        result["error"] = error
    return result


def _forget_candidates() -> None:
    for name in [n for n in sys.modules if n.startswith(_MODULE_PREFIX)]:
        del sys.modules[name]
    gc.collect()


def _serve(args: argparse.Namespace, isolated: bool) -> int:
    from kernelevolve.eval.channel import ChannelClosed, recv_message, send_message

    hello = recv_message(args.job_fd)
    tally = _Tally()
    try:
        ctx = _build_context(args)
        if not ctx.platform.interpreter:
            install_warmup_mode(tally)
        ctx.initial_state = _capture_state()
    except Exception:  # noqa: BLE001 - process boundary: report why the worker cannot serve
        send_message(args.verdict_fd, {"kind": "harness_error", "nonce": hello.get("nonce"),
                                       "error": traceback.format_exc()[-4000:]})
        return 3
    send_message(args.verdict_fd, {"kind": "ready", "nonce": hello.get("nonce"), "network_isolated": isolated,
                                   "compile_only": True})
    return _loop(args, ctx, tally, recv_message, send_message, ChannelClosed)


def _capture_state() -> Any:
    from kernelevolve.eval import procstate

    return procstate.capture()


def _loop(args: argparse.Namespace, ctx: Any, tally: _Tally, recv: Callable[..., dict[str, Any]],
          send: Callable[[int, dict[str, Any]], None], closed: type[Exception]) -> int:
    """Serves jobs until the channel closes or a candidate left the worker unfit for another."""
    while True:
        try:
            job = recv(args.job_fd)
        except closed:
            return 0
        if job.get("kind") != "job":
            return 0
        nonce = job.pop("nonce")
        started = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes of one host
        try:
            result = compile_job(ctx, job, tally)
        except Exception:  # noqa: BLE001 - process boundary: a harness failure, not advice
            send(args.verdict_fd, {"kind": "harness_error", "nonce": nonce, "error": traceback.format_exc()[-4000:]})
            return 3
        recycle = result["status"] in (PrecompileStatus.CRASHED, PrecompileStatus.INTEGRITY_VIOLATION) \
            or bool(ctx.dirty)
        send(args.verdict_fd, {"kind": "result", "nonce": nonce, "result": result, "recycle": recycle,
                               "started": started, "finished": time.monotonic(), "pid": os.getpid()})
        if recycle:
            return 0


def main(argv: list[str] | None = None) -> int:
    """Runs the compile-only worker until its pool closes the job channel or it must be recycled."""
    from kernelevolve.eval.worker import start

    return start(argv, _serve)


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main())
