"""Submits one Ray Job per point of a Hydra sweep, without running the sweep locally.

    python cluster/submit_sweep.py --address http://HEAD:8265 +experiment=conv1d search.policy=greedy,mcts seed=0,1
    python cluster/submit_sweep.py --dry-run +experiment=conv1d search.max_steps=20,40

Each point is composed first (a misspelt key fails here, not on the cluster), then submitted with the
entrypoint `python -m kernelevolve.launch cluster=ray cluster.address=auto run.id=<sweep>-<n> <point>`,
so every job joins the cluster it runs on and writes its own run. Ray 2.60 clusters started by
`ray.init()` or with RAY_AUTH_MODE=token require a token: it is read from --token, $RAY_AUTH_TOKEN or
~/.ray/auth_token and sent as an Authorization header (the Jobs client sends it on its own only with
RAY_AUTH_MODE=token set).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # private API; see API_NOTES.md
from hydra.core.override_parser.overrides_parser import OverridesParser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernelevolve.config import register_configs, to_config  # noqa: E402


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


def entrypoint(point: list[str], run_id: str) -> str:
    """Returns the shell command one job runs for a sweep point."""
    args = ["python", "-m", "kernelevolve.launch", "cluster=ray", "cluster.address=auto", f"run.id={run_id}", *point]
    return shlex.join(args)


def read_token(explicit: str | None) -> str | None:
    """Returns the cluster's auth token from the flag, $RAY_AUTH_TOKEN or ~/.ray/auth_token, or None."""
    if explicit:
        return explicit
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"]
    path = Path.home() / ".ray" / "auth_token"
    return path.read_text().strip() if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    """Expands, checks and submits the sweep; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="http://127.0.0.1:8265", help="the Ray dashboard (Jobs API) address")
    parser.add_argument("--token", help="Ray auth token (default: $RAY_AUTH_TOKEN or ~/.ray/auth_token)")
    parser.add_argument("--name", default=f"sweep-{time.strftime('%Y%m%d-%H%M%S')}", help="sweep name, prefixes run ids")
    parser.add_argument("--gpus", type=float, default=0, help="GPUs reserved for each job's driver (evaluators take their own)")
    parser.add_argument("--dry-run", action="store_true", help="print the jobs instead of submitting them")
    parser.add_argument("overrides", nargs="+", help="Hydra overrides; a,b,c sweeps over values")
    args = parser.parse_args(argv)
    points = expand_sweep(args.overrides)
    for point in points:
        check_point(point)
    jobs = [(f"{args.name}-{i}", entrypoint(point, f"{args.name}-{i}")) for i, point in enumerate(points)]
    if args.dry_run:
        for job_id, command in jobs:
            sys.stdout.write(f"{job_id}: {command}\n")
        return 0
    from ray.job_submission import JobSubmissionClient

    token = read_token(args.token)
    client = JobSubmissionClient(args.address, headers={"Authorization": f"Bearer {token}"} if token else None)
    for job_id, command in jobs:
        client.submit_job(entrypoint=command, submission_id=job_id, entrypoint_num_gpus=args.gpus or None,
                          runtime_env={"working_dir": str(ROOT), "excludes": ["runs/", ".venv/", ".devpack/"]})
        sys.stdout.write(f"submitted {job_id}: {command}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
