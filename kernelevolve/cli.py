"""`kernelevolve` command line: task, eval, kb and runs subcommands.

Each subcommand lives next to what it drives (kernelevolve/<package>/commands.py defines
`register(subparsers)`); this module only assembles them. The search itself starts with
`python -m kernelevolve.launch` (Hydra), not from here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from kernelevolve.core.errors import KernelEvolveError

COMMAND_MODULES = (
    "kernelevolve.tasks.commands",
    "kernelevolve.eval.commands",
    "kernelevolve.eval.profile_commands",
    "kernelevolve.operator.commands",
    "kernelevolve.store.commands",
    "kernelevolve.report.commands",
)


def build_parser() -> argparse.ArgumentParser:
    """Returns the parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(prog="kernelevolve", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    export = subparsers.add_parser("export", help="export a run as a package with shape-aware dispatch")
    export.add_argument("run", type=Path, help="run directory (runs/<run-id>)")
    export.add_argument("--out", type=Path, default=None, help="package directory (default: <run>/export)")
    export.add_argument("--min-speedup", type=float, default=1.0,
                        help="a kernel must beat the baseline by this factor on a shape, else PyTorch runs it")
    export.set_defaults(func=_export)
    status = subparsers.add_parser("status", help="live status of running searches (cluster=ray), from their controllers")
    status.add_argument("run", nargs="?", default=None, help="only this run id")
    status.add_argument("--address", default="auto", help="Ray address (default: auto)")
    status.set_defaults(func=_status)
    return parser


def _status(args: argparse.Namespace) -> int:
    """Prints the live status of running Ray searches as JSON lines; returns 1 when none is running."""
    import json

    from actors.status import live_status  # Ray is imported only for this command (actors/ may import Ray)

    found = live_status(address=args.address, run_id=args.run)
    for status in found:
        print(json.dumps(status, default=str))
    if not found:
        print("no live search (finished and cluster=local runs: see `kernelevolve runs show RUN`)")
    return 0 if found else 1


def _export(args: argparse.Namespace) -> int:
    from kernelevolve.export import export_run

    package, choices = export_run(args.run, out_dir=args.out, min_speedup=args.min_speedup)
    print((package / "DISPATCH.md").read_text(), end="")
    print(f"package: {package}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs one subcommand; returns its exit code (2 for usage and input errors)."""
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    # The level sits on the handler too: libraries that set their own logger to DEBUG (bm25s) stay quiet.
    handler.setLevel(logging.INFO if args.verbose else logging.WARNING)
    logging.basicConfig(level=handler.level, format="%(levelname)s %(message)s", handlers=[handler])
    try:
        return int(args.func(args))
    except KernelEvolveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
