"""`kernelevolve profile TASK CANDIDATE`: run one candidate under a hardware profiler and print its kernels."""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from kernelevolve.eval.config import EvalConfig, HwProfiler, ShapeSetChoice, resolve_shape_set
from kernelevolve.eval.platforms import PLATFORM_NAMES, resolve_platform

if TYPE_CHECKING:
    from kernelevolve.eval.profile.parsers import KernelStats

NAME_CHARS = 60  # demangled torch kernel names run to 1000+ characters


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `profile` subcommand."""
    parser = subparsers.add_parser("profile", help="profile one candidate with ncu, Proton or rocprof",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("task", help="built-in task name or path to a task file")
    parser.add_argument("candidate", type=Path, help="candidate .py file defining ModelNew")
    parser.add_argument("--tool", default=str(HwProfiler.auto), choices=[str(t) for t in HwProfiler],
                        help="profiler (auto: the first available, else none; none: run without one, kernel names only)")
    parser.add_argument("--shape", action="append", default=None,
                        help="task shape (repeatable; default: the platform's first shape)")
    parser.add_argument("--platform", default="auto", choices=("auto", *PLATFORM_NAMES))
    parser.add_argument("--calls", type=int, default=3, help="profiled calls per shape, after one warm-up")
    parser.add_argument("--timeout", type=float, default=EvalConfig.hw_profile_timeout_s,
                        help="seconds for the whole profile")
    parser.add_argument("--all-launches", action="store_true",
                        help="ncu: profile every launch (warm-up included), not only the profiled calls")
    parser.add_argument("--workdir", type=Path, default=None, help="private temp dirs and caches")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Profiles the candidate and prints the result; returns 0, or 2 on usage errors.

    Profiler failures raise ProfilerError (cli.main prints it and returns 2).
    """
    code, text = _profile(args)
    print(text)
    return code


def _profile(args: argparse.Namespace) -> tuple[int, str]:
    from kernelevolve.eval.profile.run import choose_tool, metrics_of, profile_runs
    from kernelevolve.tasks.loader import load_task

    if not args.candidate.is_file():
        return 2, f"error: {args.candidate}: no such candidate file"
    task = load_task(args.task)
    platform = resolve_platform(args.platform)
    shapes = args.shape or list(task.shapes(resolve_shape_set(ShapeSetChoice.auto, platform)))[:1]
    unknown = sorted(set(shapes) - task.all_shape_names())
    if unknown:
        return 2, f"error: unknown shape(s) {unknown}; {task.name} has {sorted(task.all_shape_names())}"
    tool = args.tool if args.tool != HwProfiler.auto else choose_tool(args.tool, platform) or str(HwProfiler.none)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kernelevolve_profile_"))
    runs = profile_runs(task.path, args.candidate.read_text(), platform=platform, tool=tool, shapes=shapes,
                        workdir=workdir, timeout_s=args.timeout, calls=args.calls,
                        limit_to_profiled_calls=not args.all_launches)
    metrics = metrics_of(runs)
    if args.json:
        return 0, json.dumps({"task": task.name, "platform": platform, "tool": tool,
                              "metrics": metrics, "shapes": [dataclasses.asdict(r) for r in runs]})
    skipped = args.tool == HwProfiler.auto and tool == HwProfiler.none
    lines = [f"no hardware profiler found for platform {platform}: ran without one"] if skipped else []
    for r in runs:
        lines.append(f"shape {r.shape} ({r.tool}, {r.calls} calls); candidate's Triton kernels: "
                     f"{', '.join(r.triton_names) or 'none found'}")
        lines.append(format_kernels(r.kernels, r.triton_names, r.calls))
    lines.append("summary:")
    lines.extend(f"  {key:<40} {value:.4g}" for key, value in sorted(metrics.items()))
    return 0, "\n".join(lines)


def format_kernels(kernels: list[KernelStats], triton_names: list[str], calls: int) -> str:
    """Returns a table of kernels, slowest first: launches recorded, device us per candidate call, counters.

    `*` marks the candidate's own Triton kernels.
    """
    from kernelevolve.eval.profile.run import is_triton_kernel

    if not kernels:
        return "  (no kernels recorded)"
    rows = [f"  {'kernel':<{NAME_CHARS + 2}} {'calls':>6} {'us/call':>10} {'dram %':>7} {'sm %':>6} {'occ %':>6} "
            f"{'regs':>5}"]
    for k in sorted(kernels, key=lambda k: -k.time_ns):
        mark = "*" if is_triton_kernel(k.name, triton_names) else " "
        name = k.name if len(k.name) <= NAME_CHARS else k.name[:NAME_CHARS - 3] + "..."
        cells = [_cell(v, 7 if i == 0 else 6) for i, v in enumerate((k.dram_pct, k.sm_pct, k.occupancy_pct))]
        rows.append(f"  {mark} {name:<{NAME_CHARS}} {k.calls:>6d} {k.time_ns / 1e3 / calls:>10.2f} "
                    f"{' '.join(cells)} {'-' if k.registers is None else k.registers:>5}")
    return "\n".join(rows)


def _cell(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.1f}"
