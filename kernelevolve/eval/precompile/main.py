"""Compile-only workers: fill the shared Triton cache for queued candidates while the device is busy timing.

`python -m kernelevolve.eval.precompile.main` is started by sandbox.WorkerProcess exactly like the judge's
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
import functools
import gc
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from kernelevolve.eval.wire.messages import (
    CompileReport,
    Hello,
    InputPlacement,
    PrecompileJob,
    PrecompileStatus,
    Ready,
)
from kernelevolve.eval.wire.serve import Outcome, Session, Turn, result_sender, serve, start

logger = logging.getLogger(__name__)

_MODULE_PREFIX = "kernelevolve_candidate_"


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

    from kernelevolve.eval.platforms import get_platform
    from kernelevolve.eval.worker.candidate import WorkerContext
    from kernelevolve.eval.worker.guard.integrity import AuditGuard, LaunchCounter, TaintSnapshot
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


def compile_job(ctx: Any, job: PrecompileJob, tally: _Tally) -> CompileReport:
    """Returns the report on one candidate's compiles; never raises CheckFailed."""
    import torch

    from kernelevolve.eval.cases import INIT_SEED
    from kernelevolve.eval.correctness import CheckFailed
    from kernelevolve.eval.worker.candidate import candidate_code, import_candidate, trim

    tally.kernels, tally.seconds, tally.skipped = set(), 0.0, 0
    on_device = job.inputs == InputPlacement.device or ctx.platform.interpreter
    device = ctx.platform.device() if on_device else torch.device("cpu")
    status, error = PrecompileStatus.OK, None
    try:
        shapes = [(shape, *_shape_inputs(ctx, shape, device)) for shape in job.shapes]
        cls = import_candidate(ctx, job.source, ctx.jobs_done)
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
        error = failure.reason + (f"\n{trim(text, job.error_chars)}" if text else "")
    finally:
        ctx.jobs_done += 1
        _forget_candidates()
    return CompileReport(status=str(status), compiled=len(tally.kernels), compile_s=tally.seconds,
                         skipped_configs=tally.skipped, error=error)


def _forget_candidates() -> None:
    for name in [n for n in sys.modules if n.startswith(_MODULE_PREFIX)]:
        del sys.modules[name]
    gc.collect()


def _open(args: argparse.Namespace, isolated: bool, hello: Hello, turn: Turn) -> Session:
    """Builds the harness and turns every Triton launch into a compile; returns the compile-only session."""
    from kernelevolve.eval.worker.guard import procstate

    tally = _Tally()
    ctx = _build_context(args)
    if not ctx.platform.interpreter:
        install_warmup_mode(tally)
    ctx.initial_state = procstate.capture()

    def handle(job: dict[str, Any], turn: Turn) -> Outcome:
        started = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes of one host
        report = compile_job(ctx, PrecompileJob.from_wire(job), tally)
        recycle = report.status in (PrecompileStatus.CRASHED, PrecompileStatus.INTEGRITY_VIOLATION) \
            or bool(ctx.dirty)  # a candidate left the worker unfit for another
        return Outcome(report.to_wire(), recycle, {"started": started, "finished": time.monotonic(), "pid": os.getpid()})

    return Session(ready=Ready(network_isolated=isolated, compile_only=True), handle=handle,
                   send=result_sender(args.verdict_fd))


def main(argv: list[str] | None = None) -> int:
    """Runs the compile-only worker until its pool closes the job channel or it must be recycled."""
    return start(argv, lambda args, isolated: serve(args, functools.partial(_open, args, isolated)),
                 prog="kernelevolve.eval.precompile.main")


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main())
