"""Runs a Hydra sweep as Ray Jobs, one per point, and writes the sweep page that compares them.

    python cluster/submit_sweep.py --address http://HEAD:8265 +experiment=conv1d search=greedy,mcts seed=0,1
    python cluster/submit_sweep.py --dry-run +experiment=conv1d search.max_steps=20,40

Each point is composed first (a misspelt key fails here, not on the cluster), then submitted with the
entrypoint `python -m kernelevolve.launch cluster=ray cluster.address=auto run.id=<sweep>-<n>
store.root=<store root> <point>`, so every job joins the cluster it runs on and writes its own run.
Points that do not fit the cluster at once queue: each run waits for its fleet's resources (its log
says what it waits for). The command follows the jobs to the end with a progress display, prints
each job's status and run id, and writes sweeps/<name>/index.html, summary.md and summary.json.

The store root defaults to ./runs made absolute: right when the head is this machine or shares its
filesystem. On a remote head pass --store-root with a path there; the page then takes each point's
numbers from the summary line its job logged. Ray 2.60 clusters started by `ray.init()` or with
RAY_AUTH_MODE=token require a token: it is read from --token, $RAY_AUTH_TOKEN or ~/.ray/auth_token
and sent as an Authorization header.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # private API; see API_NOTES.md
from hydra.core.override_parser.overrides_parser import OverridesParser
from rich.console import Console
from rich.live import Live
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actors.sweep_jobs import JobState, SweepJob, collect, entrypoint, follow, submit  # noqa: E402
from kernelevolve.config import register_configs, to_config  # noqa: E402
from kernelevolve.sweep.page import write_sweep  # noqa: E402

UPLOAD_EXCLUDES = ["runs/", "sweeps/", ".venv/", ".git/", ".devpack/", "**/__pycache__/"]


def expand_sweep(overrides: list[str]) -> list[list[str]]:
    """Returns every point of the sweep (the cartesian product of comma-separated values), in order."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    batches = BasicSweeper.split_arguments(parsed, None)  # one batch when max_batch_size is None
    return [point for batch in batches for point in batch]


def check_point(point: list[str]) -> None:
    """Composes one point into a typed Config; raises (ConfigError / ConfigCompositionException) when it is wrong."""
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        to_config(compose(config_name="config", overrides=point))


def read_token(explicit: str | None) -> str | None:
    """Returns the cluster's auth token from the flag, $RAY_AUTH_TOKEN or ~/.ray/auth_token, or None."""
    if explicit:
        return explicit
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"]
    path = Path.home() / ".ray" / "auth_token"
    return path.read_text().strip() if path.is_file() else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="http://127.0.0.1:8265", help="the Ray dashboard (Jobs API) address")
    parser.add_argument("--token", help="Ray auth token (default: $RAY_AUTH_TOKEN or ~/.ray/auth_token)")
    parser.add_argument("--name", default=f"sweep-{time.strftime('%Y%m%d-%H%M%S')}", help="sweep name, prefixes run ids")
    parser.add_argument("--gpus", type=float, default=0, help="GPUs reserved for each job's driver (evaluators take their own)")
    parser.add_argument("--store-root", type=Path, default=Path("runs"),
                        help="where the jobs write their runs, as the cluster sees it (default: ./runs, made absolute)")
    parser.add_argument("--sweeps-root", type=Path, default=Path("sweeps"), help="where the sweep page goes (default: sweeps)")
    parser.add_argument("--poll-s", type=float, default=5.0, help="seconds between status polls (default 5)")
    parser.add_argument("--timeout-s", type=float, default=0.0,
                        help="stop following after this long and write the page as it stands (0: until done)")
    parser.add_argument("--detach", action="store_true", help="submit and exit; no progress, no sweep page")
    parser.add_argument("--dry-run", action="store_true", help="print the jobs instead of submitting them")
    parser.add_argument("overrides", nargs="+", help="Hydra overrides; a,b,c sweeps over values")
    return parser


class Progress:
    """Shows the jobs' states: a live table on a terminal, else one line per change."""

    def __init__(self, console: Console, names: list[str]) -> None:
        self.console, self.names, self.started = console, names, time.monotonic()
        self.shown: dict[str, JobState] = {}
        self.live = Live(self._table({}), console=console, refresh_per_second=2) if console.is_terminal else None

    def _table(self, states: dict[str, JobState]) -> Table:
        done = sum(s.status in ("SUCCEEDED", "FAILED", "STOPPED") for s in states.values())
        table = Table(title=f"sweep: {done}/{len(self.names)} done, {time.monotonic() - self.started:.0f}s")
        for column in ("job (run id)", "status", "latest"):
            table.add_column(column)
        for name in self.names:
            state = states.get(name)
            table.add_row(name, state.status if state else "SUBMITTED", state.latest if state else "")
        return table

    def update(self, states: dict[str, JobState]) -> None:
        if self.live is not None:
            self.live.update(self._table(states))
            return
        for name, state in states.items():
            if self.shown.get(name) != state:
                self.console.print(f"{time.strftime('%H:%M:%S')} {name} {state.status} {state.latest}",
                                   soft_wrap=True, markup=False, highlight=False)
        self.shown = dict(states)


def _follow_and_write(client: object, jobs: list[SweepJob], args: argparse.Namespace, store_root: Path) -> int:
    console = Console()
    progress = Progress(console, [j.name for j in jobs])
    if progress.live is not None:
        progress.live.start()
    try:
        states = follow(client, [j.name for j in jobs], every_s=args.poll_s, on_change=progress.update,
                        timeout_s=args.timeout_s)
    except KeyboardInterrupt:
        console.print("stopped following: the jobs go on (Ray dashboard, Jobs tab; `ray job stop <id>` ends one)")
        return 130
    finally:
        if progress.live is not None:
            progress.live.stop()
    points = collect(client, jobs, states, store_root)
    for point in points:
        best = "-" if point.summary is None else f"{point.summary.best_fitness:.4g}"
        console.print(f"{point.name}: {point.status}  run id {point.name}  best {best}  {point.message}",
                      soft_wrap=True, markup=False, highlight=False)
    page = write_sweep(args.sweeps_root / args.name, args.name, points)
    console.print(f"sweep page: {page}", soft_wrap=True, markup=False, highlight=False)
    return 0 if all(p.status == "SUCCEEDED" for p in points) else 1


def main(argv: list[str] | None = None) -> int:
    """Expands, checks and submits the sweep, then follows it and writes its page; returns the exit code
    (0 when every point succeeded)."""
    args = _parser().parse_args(argv)
    points = expand_sweep(args.overrides)
    for point in points:
        check_point(point)
    store_root = args.store_root.resolve()
    jobs = [SweepJob(name=f"{args.name}-{i}", overrides=point, entrypoint=entrypoint(point, f"{args.name}-{i}", str(store_root)))
            for i, point in enumerate(points)]
    if args.dry_run:
        for job in jobs:
            sys.stdout.write(f"{job.name}: {job.entrypoint}\n")
        return 0
    from ray.job_submission import JobSubmissionClient

    token = read_token(args.token)
    client = JobSubmissionClient(args.address, headers={"Authorization": f"Bearer {token}"} if token else None)
    submit(client, jobs, {"working_dir": str(ROOT), "excludes": UPLOAD_EXCLUDES}, args.gpus)
    for job in jobs:
        sys.stdout.write(f"submitted {job.name}: {job.entrypoint}\n")
    if args.detach:
        return 0
    return _follow_and_write(client, jobs, args, store_root)


if __name__ == "__main__":
    sys.exit(main())
