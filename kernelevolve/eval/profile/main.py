"""The profiled child: `python -m kernelevolve.eval.profile.main --task T --candidate F --shape S [--calls N]`.

Builds the shape's inputs (seed --seed) and ModelNew under the judge's INIT_SEED, makes one warm-up call
(compilation, autotuning), then N profiled calls, and prints one JSON line
`{"kernelevolve_profile": ProfileReport}` (wire/messages.py) naming the candidate's Triton kernels.
--proton NAME wraps the profiled calls in a Proton session writing NAME.hatchet in the working directory;
--cuda-profiler-range brackets them with cudaProfilerStart/Stop (for `ncu --profile-from-start off`).
Run by kernelevolve.eval.profile.run in a scrubbed, private sandbox; it is no judge (no guard, no checks).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from kernelevolve.eval.wire.messages import REPORT_KEY, ProfileReport


def triton_kernel_names(module: ModuleType) -> list[str]:
    """Returns the names of the module's Triton kernels: @triton.jit functions, through autotune/heuristics."""
    from triton.runtime.jit import KernelInterface  # JITFunction, Autotuner, Heuristics, InterpretedFunction

    names = set()
    for value in vars(module).values():
        if not isinstance(value, KernelInterface):
            continue
        inner: Any = value
        while isinstance(inner, KernelInterface):  # Autotuner.fn -> Heuristics.fn -> JITFunction.fn -> function
            inner = inner.fn
        name = getattr(inner, "__name__", None)
        if isinstance(name, str):
            names.add(name)
    return sorted(names)


def _import_candidate(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("kernelevolve_profiled_candidate", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import candidate {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _profiled(proton_name: str | None, cuda_range: bool) -> Iterator[None]:
    """Runs the block inside a Proton session and/or a cudaProfilerStart/Stop range."""
    import torch

    if proton_name:
        import triton.profiler as proton

        proton.start(proton_name, hook="triton")
    if cuda_range:
        torch.cuda.profiler.start()
    try:
        yield
    finally:
        if cuda_range:
            torch.cuda.profiler.stop()
        if proton_name:
            proton.finalize()


def run(args: argparse.Namespace) -> ProfileReport:
    """Runs the warm-up and profiled calls; returns the report."""
    import torch

    from kernelevolve.eval.cases import INIT_SEED, to_device
    from kernelevolve.eval.platforms import get_platform
    from kernelevolve.tasks.loader import load_task

    task = load_task(args.task)
    platform = get_platform(args.platform)
    device = platform.device()
    inputs = to_device(task.make_inputs(args.shape, args.seed, device=device), device)
    module = _import_candidate(args.candidate)
    cls = getattr(module, "ModelNew", None) or getattr(module, "TritonModel", None)
    if not isinstance(cls, type) or not issubclass(cls, torch.nn.Module):
        raise SystemExit("candidate defines no `class ModelNew(nn.Module)`")
    torch.manual_seed(INIT_SEED)
    model = cls(*task.make_init_inputs(args.shape)).to(device)
    with torch.no_grad():
        model(*inputs)  # warm-up: compilation and autotuning stay outside the profiled calls
        platform.synchronize()
        with _profiled(args.proton, args.cuda_profiler_range):
            for _ in range(args.calls):
                model(*inputs)
            platform.synchronize()
    return ProfileReport(shape=args.shape, calls=args.calls, triton_kernels=triton_kernel_names(module))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Returns the child's arguments."""
    parser = argparse.ArgumentParser(prog="kernelevolve.eval.profile.main", description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, help="built-in task name or task file")
    parser.add_argument("--candidate", type=Path, required=True, help="candidate .py file")
    parser.add_argument("--shape", required=True, help="task shape name")
    parser.add_argument("--calls", type=int, default=3, help="profiled calls after the warm-up")
    parser.add_argument("--seed", type=int, default=0, help="input seed")
    parser.add_argument("--platform", default="cuda", choices=("cpu", "cuda", "rocm", "mtia"))
    parser.add_argument("--proton", default=None, help="profile with Proton into PROTON.hatchet")
    parser.add_argument("--cuda-profiler-range", action="store_true",
                        help="bracket the profiled calls with cudaProfilerStart/Stop")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Prints the report line; returns 0."""
    report = run(parse_args(argv))
    print("\n" + json.dumps({REPORT_KEY: report.to_wire()}), flush=True)  # noqa: T201 - the child's one output line
    return 0


if __name__ == "__main__":
    sys.exit(main())
