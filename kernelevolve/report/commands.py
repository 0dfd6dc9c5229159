"""`kernelevolve report RUN... [--watch]`: write each run's report.html from its store, once or, while
the run goes on, again every few seconds (read-only: the running search is never touched)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from kernelevolve.core.errors import StoreError
from kernelevolve.report.data import load_run
from kernelevolve.report.page import REPORT_HTML, render_page, write_atomic

LIVE_STATES = ("running", "unknown")  # unknown: running with no heartbeat yet (e.g. still waiting for its fleet)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the `report` command to the CLI's subparsers."""
    report = subparsers.add_parser("report", help="write a run's self-contained HTML report (report.html)")
    report.add_argument("runs", nargs="+", metavar="RUN", help="run directory, or run id under --root")
    report.add_argument("--root", type=Path, default=Path("runs"), help="store root (default: runs)")
    report.add_argument("--out", type=Path, default=None,
                        help="write here instead of <run>/report.html (only with one RUN)")
    report.add_argument("--watch", action="store_true",
                        help="rebuild every --every seconds until the runs stop (the page reloads itself meanwhile)")
    report.add_argument("--every", type=float, default=10.0, metavar="S", help="seconds between rebuilds (default 10)")
    report.set_defaults(func=run_report)


def resolve_run_dir(run: str, root: Path) -> Path:
    """Returns the directory of a run given as a directory or as an id under `root`."""
    for candidate in (Path(run), root / run):
        if (candidate / "meta.db").is_file():
            return candidate
    raise StoreError(f"no run {run!r}: neither {run}/meta.db nor {root / run}/meta.db exists; "
                     f"see `kernelevolve runs list --root {root}`.")


def build(run_dir: Path, out: Path | None, refresh_s: float | None) -> tuple[Path, str]:
    """Writes one run's page; returns where, and the run's state as the store shows it."""
    data = load_run(run_dir)
    live = refresh_s if data.state.split(" ")[0] in LIVE_STATES else None
    return write_atomic(out or run_dir / REPORT_HTML, render_page(data, refresh_s=live)), data.state


def watch(targets: Sequence[tuple[Path, Path | None]], every_s: float, *,
          sleep: Callable[[float], None] = time.sleep, say: Callable[[str], None] = print) -> int:
    """Rebuilds the pages until no run is live any more (the last pages carry no reload); returns 0."""
    live = list(targets)
    while live:
        still = []
        for run_dir, out in live:
            path, state = build(run_dir, out, every_s)
            say(f"{time.strftime('%H:%M:%S')} {path} ({state})")
            if state.split(" ")[0] in LIVE_STATES:
                still.append((run_dir, out))
        live = still
        if live:
            sleep(every_s)
    return 0


def run_report(args: argparse.Namespace) -> int:
    """Writes (or, with --watch, keeps rewriting) the report of every RUN; returns 0."""
    if args.out is not None and len(args.runs) > 1:
        raise StoreError("--out names one file: give one RUN with it")
    targets = [(resolve_run_dir(run, args.root), args.out) for run in args.runs]
    if args.watch:
        try:
            return watch(targets, args.every)
        except KeyboardInterrupt:
            return 0
    for run_dir, out in targets:
        path, _ = build(run_dir, out, None)
        print(path)
    return 0
