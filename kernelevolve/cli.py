"""`kernelevolve` command line: task, eval, kb and runs subcommands.

Each subcommand lives next to what it drives (kernelevolve/<package>/commands.py defines
`register(subparsers)`); this module only assembles them. The search itself starts with
`python -m kernelevolve.launch` (Hydra), not from here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from kernelevolve.core.errors import KernelEvolveError

VERBOSE_FLAGS = ("-v", "--verbose")
COMMAND_MODULES = (
    "kernelevolve.tasks.commands",
    "kernelevolve.eval.commands",
    "kernelevolve.eval.profile.commands",
    "kernelevolve.operator.commands",
    "kernelevolve.store.commands",
    "kernelevolve.report.commands",
    "kernelevolve.seeds.commands",
    "kernelevolve.suite.commands",
)


def build_parser() -> argparse.ArgumentParser:
    """Returns the parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(prog="kernelevolve", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log at INFO level and print the traceback of an error (also accepted after the command)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    export = subparsers.add_parser("export", help="export a run as a package with shape-aware dispatch")
    export.add_argument("run", help="run id (a directory under --root) or a run directory")
    export.add_argument("--root", type=Path, default=Path("runs"), help="store root (default: runs)")
    export.add_argument("--out", type=Path, default=None, help="package directory (default: <run>/export)")
    export.add_argument("--min-speedup", type=float, default=1.0,
                        help="a kernel must beat the baseline by this factor on a shape, else PyTorch runs it")
    export.set_defaults(func=_export)
    status = subparsers.add_parser("status", help="live status of running searches (cluster=ray), from their controllers")
    status.add_argument("run", nargs="?", default=None, help="only this run (a run id, or its run directory)")
    status.add_argument("--address", default="auto", help="Ray address (default: auto)")
    status.set_defaults(func=_status)
    return parser


def _status(args: argparse.Namespace) -> int:
    """Prints the live status of running Ray searches as JSON lines; returns 1 when none is running."""
    import json

    from actors.status import live_status  # Ray is imported only for this command (actors/ may import Ray)

    run_id = None if args.run is None else Path(args.run).name  # a run directory is named by its id
    found = live_status(address=args.address, run_id=run_id)
    for status in found:
        print(json.dumps(status, default=str))
    if not found:
        print("no live search (finished and cluster=local runs: see `kernelevolve runs show RUN`)")
    return 0 if found else 1


def _export(args: argparse.Namespace) -> int:
    from kernelevolve.export import export_run
    from kernelevolve.store.locate import resolve_run_dir

    package, choices = export_run(resolve_run_dir(args.run, args.root), out_dir=args.out, min_speedup=args.min_speedup)
    print((package / "DISPATCH.md").read_text(), end="")
    print(f"package: {package}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs one subcommand; returns its exit code (2 for usage and input errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in VERBOSE_FLAGS for a in argv)  # `kernelevolve runs show X -v` works as well as `-v runs ...`
    args = build_parser().parse_args([a for a in argv if a not in VERBOSE_FLAGS])
    args.verbose = verbose
    handler = logging.StreamHandler(sys.stderr)
    # The level sits on the handler too: libraries that set their own logger to DEBUG (bm25s) stay quiet.
    handler.setLevel(logging.INFO if args.verbose else logging.WARNING)
    logging.basicConfig(level=handler.level, format="%(levelname)s %(message)s", handlers=[handler])
    try:
        with terminate_as_exit(f"`kernelevolve {args.command}`"):
            return int(args.func(args))
    except (KernelEvolveError, OSError) as exc:  # a user's mistake or the machine's state: one line, no traceback
        return report_error(exc, verbose=args.verbose)


SIGTERM_EXIT = 128 + signal.SIGTERM  # what a shell reports for a process a SIGTERM ended


@contextlib.contextmanager
def terminate_as_exit(what: str) -> Iterator[None]:
    """Turns a SIGTERM (`timeout`, a scheduler's stop, `kill`) into SystemExit(143) in the main thread, so a command
    unwinds as on Ctrl-C: the judges close and kill their worker, referee and compile processes (each in a session
    of its own, which the default SIGTERM would leave running until their job ended), and a run stays resumable
    (run.resume). A second SIGTERM while unwinding ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        print(f"kernelevolve: SIGTERM: stopping {what}", file=sys.stderr, flush=True)
        raise SystemExit(SIGTERM_EXIT)

    previous = signal.signal(signal.SIGTERM, stop)
    _TERMINATE_HANDLERS.append(stop)
    try:
        yield
    finally:
        _TERMINATE_HANDLERS.pop()
        signal.signal(signal.SIGTERM, previous)


_TERMINATE_HANDLERS: list[Callable[[int, object], None]] = []  # terminate_as_exit's, innermost last


def reassert_terminate_handler() -> None:
    """Installs terminate_as_exit's SIGTERM handler again after a library replaced it (ray.init installs its own,
    which exits with code 15 and leaves the judges' processes running); does nothing outside one."""
    if _TERMINATE_HANDLERS and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _TERMINATE_HANDLERS[-1])


def report_error(exc: BaseException, *, verbose: bool, note: str = "") -> int:
    """Prints the one-line error (after the traceback under -v); returns 2, the exit code of usage errors.

    An OSError (a missing or unwritable file, a full disk) is named with its type: its text alone is terse.
    """
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    message = str(exc) if isinstance(exc, KernelEvolveError) else f"{type(exc).__name__}: {exc}"
    print(f"error: {message}{note}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
