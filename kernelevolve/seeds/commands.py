"""`kernelevolve seed capture|wrap|show`: Inductor captures made on a GPU, wrapped into seed kernels anywhere."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from kernelevolve.core.errors import KernelEvolveError
from kernelevolve.seeds.capture import Capture, capture_task, write_capture
from kernelevolve.seeds.check import check_seed
from kernelevolve.seeds.wrap import kernel_count, wrap_capture
from kernelevolve.tasks import Task, load_task

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `seed` command group to a parent parser's subparsers."""
    seed = subparsers.add_parser("seed", help="seed kernels from torch.compile's Triton (capture on a GPU, wrap anywhere)")
    commands = seed.add_subparsers(dest="seed_command", required=True)
    capture = commands.add_parser("capture", help="capture Inductor's Triton for task files (GPU) and wrap each as a seed")
    capture.add_argument("tasks", nargs="+", metavar="TASK", help="task .py files (KernelBench format) or built-in names")
    capture.add_argument("--out", type=Path, required=True,
                         help="directory for <task>.json (the capture) and <task>.seed.py (the wrapped seed)")
    capture.add_argument("--check", action="store_true",
                         help="run each wrapped seed against the reference (GPU) and report the largest error")
    capture.set_defaults(func=run_capture)
    wrap = commands.add_parser("wrap", help="wrap a capture file into a seed kernel (prints the source)")
    wrap.add_argument("capture", type=Path, help="a capture .json written by `seed capture`")
    wrap.add_argument("--task", required=True, help="the task file the capture was made from")
    wrap.set_defaults(func=run_wrap)


def run_capture(args: argparse.Namespace) -> int:
    """Captures and wraps every task, one JSON line per task; exit 1 when any task gave no seed or (with --check) a
    seed that does not match the reference."""
    failed = 0
    for target in args.tasks:
        line: dict[str, object] = {"task": target}
        try:
            task = load_task(target)
            capture = capture_task(task)
            write_capture(capture, args.out / f"{task.name}.json")
            source = wrap_capture(capture, task.path.read_text(), task.model_class.__name__)
            seed = args.out / f"{task.name}.seed.py"
            seed.write_text(source)
            line.update(ok=True, seed=str(seed), kernels=kernel_count(capture))
            if args.check:
                line.update(_checked(task, seed))
        except KernelEvolveError as exc:
            line.update(ok=False, error=str(exc))
        failed += not line.get("ok") or line.get("correct") is False
        print(json.dumps(line), flush=True)
    return 1 if failed else 0


def _checked(task: Task, seed: Path) -> dict[str, object]:
    """Returns check_seed's result; when the wrapped seed raises, correct=False and the error (the next task goes on)."""
    try:
        return check_seed(task, seed)
    except Exception as exc:  # noqa: BLE001 - boundary: the seed is generated code; its failure is the result
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return {"correct": False, "check_error": f"{type(exc).__name__}: {first}"[:500]}


def run_wrap(args: argparse.Namespace) -> int:
    """Prints the seed kernel wrapped from a capture file."""
    task = load_task(args.task)
    capture = Capture.from_json(args.capture.read_text())
    print(wrap_capture(capture, task.path.read_text(), task.model_class.__name__), end="")
    return 0
