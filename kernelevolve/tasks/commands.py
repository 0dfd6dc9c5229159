"""`kernelevolve task check|list`: validate a task file (or built-in) and list the built-ins."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

import torch

from kernelevolve.core.errors import TaskError
from kernelevolve.tasks.loader import builtin_task_names, load_task, tolerance_policy
from kernelevolve.tasks.validate import ShapeReport, check_shape, shapes_for

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `task` command group (check, list) to a parent parser's subparsers."""
    task = subparsers.add_parser("task", help="check and list tasks")
    commands = task.add_subparsers(dest="task_command", required=True)
    check = commands.add_parser("check", help="build inputs and run the reference for every shape of a task")
    check.add_argument("target", metavar="PATH_OR_NAME", help="a task .py file (KernelBench format) or a built-in name")
    check.add_argument("--platform", choices=("cpu", "cuda"), default=None,
                       help="cpu: small shapes; cuda: production shapes (default: cuda when available)")
    check.add_argument("--json", action="store_true", help="print one JSON object {ok, name, shapes, error}")
    check.set_defaults(func=run_check)
    listing = commands.add_parser("list", help="list the built-in tasks")
    listing.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    """Prints each built-in task with its one-line description."""
    for name in builtin_task_names():
        print(f"{name:22s} {load_task(name).description}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Checks every shape of a task; exit code 0 when all pass, 1 on a task problem, 2 on a bad request."""
    platform = args.platform or ("cuda" if torch.cuda.is_available() else "cpu")
    if platform == "cuda" and not torch.cuda.is_available():
        return _fail(args, args.target, "--platform cuda asked for, but torch sees no CUDA device; use --platform cpu.", 2)
    try:
        task = load_task(args.target)
    except TaskError as exc:
        return _fail(args, args.target, str(exc), 1)
    reports = []
    for name, family, heldout in shapes_for(task, platform):
        report = check_shape(task, name, family, heldout, platform)
        reports.append(report)
        if not args.json:
            _print_shape(report)
    errors = [r.error for r in reports if r.error]
    ok = not errors
    if args.json:
        print(json.dumps({"ok": ok, "name": task.name, "platform": platform, "path": str(task.path),
                          "shapes": [dataclasses.asdict(r) for r in reports], "tolerance": tolerance_policy(task),
                          "error": errors[0] if errors else None},
                         default=str))
    else:
        ran = sum(1 for r in reports if not r.skipped)
        print(f"{task.name}: {'OK' if ok else 'FAILED'} — {ran}/{len(reports)} shapes run on {platform}, "
              f"{len(errors)} with errors; float outputs judged with {tolerance_policy(task)}")
    return 0 if ok else 1


def _fail(args: argparse.Namespace, target: str, error: str, code: int) -> int:
    if args.json:
        print(json.dumps({"ok": False, "name": target, "shapes": [], "error": error}))
    else:
        print(f"error: {error}", file=sys.stderr)
    return code


def _print_shape(report: ShapeReport) -> None:
    tag = f"{report.family}{' heldout' if report.heldout else ''}"
    print(f"[{tag}] {report.name} {report.params}")
    if report.skipped:
        print(f"    {report.skipped}")
        return
    for i, summary in enumerate(report.inputs):
        print(f"    in  {i}: {summary.describe()}")
    for i, summary in enumerate(report.outputs):
        print(f"    out {i}: {summary.describe()}")
    for check in report.upcast:
        verdict = "passes" if check["ok"] else f"FAILS: {check['reason']}"
        print(f"    native vs fp32 reference, output {check['output']}: {verdict} "
              f"(max abs {check['max_abs']:.3g}, rel L2 {check['rel_l2']:.3g})")
    for note in report.notes:
        print(f"    note: {note}")
    if report.error:
        print(f"    ERROR: {report.error}")


def main(argv: list[str] | None = None) -> int:
    """Runs `task ...` without the top-level CLI (python -m kernelevolve.tasks.commands check conv1d)."""
    parser = argparse.ArgumentParser(prog="kernelevolve")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["task", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
