"""The `kernelevolve runs ...` commands: list stored runs, show one, export its tables, check a damaged store.

A run is named the same way everywhere: a bare run id (a directory under --root) or a run directory.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from kernelevolve.core.errors import StoreError
from kernelevolve.store.doctor import Diagnosis, diagnose
from kernelevolve.store.liveness import STALE_AFTER_S, RunState, liveness
from kernelevolve.store.locate import resolve_run_dir, run_dirs
from kernelevolve.store.parquet import export_parquet
from kernelevolve.store.sqlite import SqliteMetadataStore, open_run

RUN_HELP = "run id (a directory under --root) or a run directory"
LIST_HEADER = ("run", "task", "stop", "nodes", "best", "status")
SHOW_TOP = 10  # nodes `runs show` lists, best first


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the `runs` command group (list, show, export, doctor) to the CLI's subparsers."""
    runs = subparsers.add_parser("runs", help="stored runs: list, show, export, doctor")
    sub = runs.add_subparsers(dest="runs_command", required=True)
    listing = sub.add_parser("list", help="list the runs under --root")
    listing.set_defaults(func=run_list)
    show = sub.add_parser("show", help="show a run: status, counters, best path, top nodes")
    show.add_argument("run", help=RUN_HELP)
    show.set_defaults(func=run_show)
    export = sub.add_parser("export", help="write nodes/evaluations/llm_calls/expansions as Parquet")
    export.add_argument("run", help=RUN_HELP)
    export.add_argument("--parquet", type=Path, required=True, metavar="DIR", help="output directory")
    export.set_defaults(func=run_export)
    doctor = sub.add_parser("doctor", help="check a run's meta.db (SQLite integrity_check); copy what is "
                                           "readable of a damaged one into a new file")
    doctor.add_argument("run", help=RUN_HELP)
    doctor.add_argument("--out", type=Path, default=None, metavar="FILE",
                        help="where the recovered copy goes (default: <run>/meta.recovered.db; never overwritten)")
    doctor.set_defaults(func=run_doctor)
    for parser in (listing, show, export, doctor):
        parser.add_argument("--root", type=Path, default=Path("runs"), help="store root (default: runs)")
    for parser in (listing, show):
        parser.add_argument("--stale-after", type=float, default=STALE_AFTER_S, metavar="S",
                            help=f"a running run with no heartbeat for S seconds is stopped (default {STALE_AFTER_S:.0f})")


def _open(args: argparse.Namespace) -> tuple[SqliteMetadataStore, str]:
    meta, run = open_run(resolve_run_dir(args.run, args.root))
    return meta, run["id"]


def run_list(args: argparse.Namespace) -> int:
    """Prints one line per run under --root, unreadable ones with the reason; returns 0 (1 when there is none)."""
    dirs = run_dirs(args.root)
    if not dirs:
        print(f"no runs under {args.root}")
        return 1
    rows = [row for run_dir in dirs for row in _list_rows(run_dir, args)]
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(LIST_HEADER[:-1])]
    for row in [LIST_HEADER, *rows]:
        cells = [cell.rjust(w) if i in (3, 4) else cell.ljust(w) for i, (cell, w) in enumerate(zip(row[:-1], widths, strict=True))]
        print("  ".join([*cells, row[-1]]))
    return 0



def _list_rows(run_dir: Path, args: argparse.Namespace) -> list[tuple[str, ...]]:
    """Returns the `runs list` rows of one run directory; a store that cannot be read gives one row saying why."""
    try:
        meta = SqliteMetadataStore(run_dir / "meta.db")
    except StoreError as exc:
        return [(run_dir.name, "?", "-", "?", "?", f"unreadable: {exc}")]
    try:
        rows = []
        for run in meta.runs():
            stats = meta.execute("SELECT COUNT(*) AS n, MAX(score) AS best FROM nodes WHERE run_id = ?",
                                 (run["id"],))[0]
            rows.append((run["id"], run["task"], run["stop_reason"] or "-", str(stats["n"]),
                         f"{stats['best'] or 0.0:.3f}", _state(run, stats["n"], args, run_dir)))
        return rows or [(run_dir.name, "?", "-", "0", "-", "empty: meta.db holds no run; remove the directory")]
    except StoreError as exc:
        return [(run_dir.name, "?", "-", "?", "?", f"unreadable: {exc}")]
    finally:
        meta.close()


def run_show(args: argparse.Namespace) -> int:
    """Prints a run's status, counters, best path and top nodes; returns 0."""
    meta, run_id = _open(args)
    try:
        run = meta.get_run(run_id)
        nodes = meta.execute("SELECT id, parent_id, status, score, note FROM nodes WHERE run_id = ?"
                             " ORDER BY score DESC, id", (run_id,))
        print(f"run {run_id}: task {run['task']}, platform {run['platform']}, host {run['host']}")
        print(f"status {_state(run, len(nodes), args, meta.path.parent)}, stop reason: {run['stop_reason'] or '-'}")
        progress = json.loads(run["progress_json"] or "{}")
        print("progress: " + ", ".join(f"{k}={v}" for k, v in progress.items()))
        print("best path: " + (" -> ".join(map(str, meta.best_path(run_id))) or "none"))
        for row in nodes[:SHOW_TOP]:
            print(f"  node {row['id']:>5} parent {row['parent_id']!s:>5} {row['status'] or 'pending':18}"
                  f" {row['score']:.3f}  {row['note'][:60]}")
        if len(nodes) > SHOW_TOP:
            print(f"  ... {len(nodes) - SHOW_TOP} more nodes (`kernelevolve runs export {run_id} --parquet DIR` "
                  "has them all)")
    finally:
        meta.close()
    return 0



def _state(run: dict[str, Any], nodes: int, args: argparse.Namespace, run_dir: Path) -> str:
    """Returns the run's state as the reader sees it now: running, finished, stopped and why, or empty."""
    root = Path(run_dir).parent
    found = liveness(run, now=time.time(), stale_after_s=args.stale_after,
                     root=None if root == Path("runs") else str(root))
    if nodes == 0 and found.state is not RunState.running:
        return f"{found}; no node was stored: its launch failed before the first one"
    return str(found)


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


def run_doctor(args: argparse.Namespace) -> int:
    """Checks a run's store and recovers a damaged one into a copy; returns 0 when healthy, 1 when damaged."""
    run_dir = resolve_run_dir(args.run, args.root)
    found = diagnose(run_dir, out=args.out)
    for line in describe_diagnosis(found):
        print(line)
    return 0 if found.healthy and not found.missing_kernels else 1


def describe_diagnosis(found: Diagnosis) -> list[str]:
    """Returns the doctor's report: the verdict, what each table kept and lost, and how to use the copy."""
    if found.healthy:
        lines = [f"{found.db}: ok (SQLite integrity_check found no damage)"]
        if found.missing_kernels:
            lines.append(f"but the kernel files of nodes {found.missing_kernels} are missing from objects/; "
                         "those nodes cannot be exported or resumed from")
        return lines
    lines = [f"{found.db}: damaged — " + "; ".join(found.integrity[:3])]
    if found.out is None:
        return [*lines, "nothing could be recovered; the run's kernels are still under objects/ if it had any."]
    lines.append(f"recovered what was readable into {found.out} (the original is unchanged):")
    for t in found.tables:
        lost = []
        if t.lost_rowids:
            lost.append(f"{t.lost_rowids} rows lost")
        if t.tail_unreadable:
            lost.append("rows past the last readable one could not be read (how many is unknown)")
        if t.garbled:
            lost.append(f"{t.garbled} damaged rows (NULL keys or duplicates) not copied")
        if t.nulled_columns:
            lost.append(f"unreadable values of {', '.join(t.nulled_columns)} are NULL in some kept rows")
        kept = f"{t.rows:>6} row{'' if t.rows == 1 else 's'} kept"
        lines.append(f"  {t.table:12} {kept}" + (f"; {'; '.join(lost)}" if lost else ""))
    runs = found.table("runs")
    if runs is not None and runs.rows == 0:
        lines.append("the run row (its config) is lost: the copy cannot be resumed or exported; its nodes stay "
                     "readable with sqlite3.")
    nodes = found.table("nodes")
    more = " (and any after the last readable row)" if nodes is not None and nodes.tail_unreadable else ""
    if found.lost_node_ids:
        lines.append(f"node ids lost: {_ranges(found.lost_node_ids)}{more}")
    lines.append(f"to use the copy: move {found.db} (and its -wal and -shm files, if present) aside, e.g. by "
                 f"renaming them to *.damaged, then rename {found.out} to {found.db}.")
    return lines


def _ranges(ids: list[int]) -> str:
    """Returns sorted ids as ranges: [1, 2, 3, 7] -> "1-3, 7"."""
    spans: list[list[int]] = []
    for i in ids:
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
