"""The `kernelevolve runs ...` commands: list stored runs, show one, export its tables as Parquet."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from kernelevolve.core.errors import StoreError
from kernelevolve.store.liveness import STALE_AFTER_S, liveness
from kernelevolve.store.parquet import export_parquet
from kernelevolve.store.sqlite import SqliteMetadataStore, open_run


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the `runs` command group (list, show, export) to the CLI's subparsers."""
    runs = subparsers.add_parser("runs", help="stored runs: list, show, export")
    sub = runs.add_subparsers(dest="runs_command", required=True)
    listing = sub.add_parser("list", help="list the runs under --root")
    listing.set_defaults(func=run_list)
    show = sub.add_parser("show", help="show a run: status, counters, best path, top nodes")
    show.add_argument("run", help="run id (a directory under --root) or a run directory")
    show.set_defaults(func=run_show)
    export = sub.add_parser("export", help="write nodes/evaluations/llm_calls/expansions as Parquet")
    export.add_argument("run", help="run id (a directory under --root) or a run directory")
    export.add_argument("--parquet", type=Path, required=True, metavar="DIR", help="output directory")
    export.set_defaults(func=run_export)
    for parser in (listing, show, export):
        parser.add_argument("--root", type=Path, default=Path("runs"), help="store root (default: runs)")
    for parser in (listing, show):
        parser.add_argument("--stale-after", type=float, default=STALE_AFTER_S, metavar="S",
                            help=f"a running run with no heartbeat for S seconds is stopped (default {STALE_AFTER_S:.0f})")


def _open(args: argparse.Namespace) -> tuple[SqliteMetadataStore, str]:
    run_dir = Path(args.run) if (Path(args.run) / "meta.db").is_file() else args.root / args.run
    if not (run_dir / "meta.db").is_file():
        raise StoreError(f"no run {args.run!r}: neither {args.run}/meta.db nor {run_dir}/meta.db exists; "
                         f"see `kernelevolve runs list --root {args.root}`.")
    meta, run = open_run(run_dir)
    return meta, run["id"]


def run_list(args: argparse.Namespace) -> int:
    """Prints one line per run under --root; returns 0 (1 when there is none)."""
    dbs = sorted(Path(args.root).glob("*/meta.db"))
    if not dbs:
        print(f"no runs under {args.root}")
        return 1
    print(f"{'run':40} {'task':20} {'stop':14} {'nodes':>6} {'best':>8}  status")
    for db in dbs:
        meta = SqliteMetadataStore(db)
        try:
            for run in meta.runs():
                stats = meta.execute("SELECT COUNT(*) AS n, MAX(score) AS best FROM nodes WHERE run_id = ?",
                                     (run["id"],))[0]
                print(f"{run['id']:40} {run['task']:20} {run['stop_reason'] or '-':14} "
                      f"{stats['n']:>6} {stats['best'] or 0.0:>8.3f}  {_liveness(run, args, db)}")
        finally:
            meta.close()
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Prints a run's status, counters, best path and top nodes; returns 0."""
    meta, run_id = _open(args)
    try:
        run = meta.get_run(run_id)
        print(f"run {run_id}: task {run['task']}, platform {run['platform']}, host {run['host']}")
        print(f"status {_liveness(run, args, meta.path)}, stop reason: {run['stop_reason'] or '-'}")
        progress = json.loads(run["progress_json"] or "{}")
        print("progress: " + ", ".join(f"{k}={v}" for k, v in progress.items()))
        print("best path: " + (" -> ".join(map(str, meta.best_path(run_id))) or "none"))
        top = meta.execute("SELECT id, parent_id, status, score, note FROM nodes WHERE run_id = ?"
                           " ORDER BY score DESC, id LIMIT 10", (run_id,))
        for row in top:
            print(f"  node {row['id']:>5} parent {row['parent_id']!s:>5} {row['status'] or 'pending':18}"
                  f" {row['score']:.3f}  {row['note'][:60]}")
    finally:
        meta.close()
    return 0


def _liveness(run: dict, args: argparse.Namespace, db: Path) -> str:
    """Returns the run's state as the reader sees it now: running, finished, or stopped and why."""
    root = Path(db).parent.parent  # <root>/<run-id>/meta.db
    return str(liveness(run, now=time.time(), stale_after_s=args.stale_after,
                        root=None if root == Path("runs") else str(root)))


def run_export(args: argparse.Namespace) -> int:
    """Writes the run's tables as Parquet under --parquet DIR and prints the files; returns 0."""
    meta, run_id = _open(args)
    try:
        written = export_parquet(meta, run_id, args.parquet)
    finally:
        meta.close()
    for table, path in written.items():
        print(f"{table}: {path}")
    return 0

