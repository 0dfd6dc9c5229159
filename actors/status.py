"""Live status of running searches, read from their named controller actors (`controller@<run id>`).

`python -m actors.status [RUN_ID] [--address auto]` prints one JSON object per running search; the
`kernelevolve status` command calls `live_status` the same way (a lazy import: the core stays
Ray-free). A run that is not live has no controller actor: its status is in the store.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import ray
from rich.console import Console

from actors.placement import no_ray_cluster
from kernelevolve.core.errors import ConfigError

CONTROLLER_PREFIX = "controller@"


def controller_names(namespace: str) -> list[str]:
    """Returns the names of the live controller actors in `namespace`, sorted."""
    actors = ray.util.list_named_actors(all_namespaces=True)
    return sorted(a["name"] for a in actors
                  if a["namespace"] == namespace and a["name"].startswith(CONTROLLER_PREFIX))


def live_status(*, address: str = "auto", namespace: str = "kernelevolve", run_id: str | None = None,
                timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Returns the status dict of each live search (or only `run_id`'s) on the Ray cluster at `address`."""
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, namespace=namespace, logging_level="ERROR", log_to_driver=False)
        except ConnectionError as exc:
            raise ConfigError(f"--address {address}: {no_ray_cluster(exc)}. Searches run with cluster=local have "
                              "no live status: see `kernelevolve runs show RUN`.") from exc
    try:
        names = controller_names(namespace)
        if run_id is not None:
            names = [n for n in names if n == f"{CONTROLLER_PREFIX}{run_id}"]
        handles = [ray.get_actor(n, namespace=namespace) for n in names]
        return ray.get([h.status.remote() for h in handles], timeout=timeout_s)
    finally:
        if started_here:
            ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    """Prints the live status of running searches; returns 1 when none is found."""
    parser = argparse.ArgumentParser(prog="python -m actors.status", description=__doc__.splitlines()[0])
    parser.add_argument("run_id", nargs="?", help="only this run")
    parser.add_argument("--address", default="auto", help="Ray address (default: auto)")
    parser.add_argument("--namespace", default="kernelevolve")
    args = parser.parse_args(argv)
    try:
        found = live_status(address=args.address, namespace=args.namespace, run_id=args.run_id)
    except ConfigError as exc:
        Console(stderr=True, soft_wrap=True).print(f"error: {exc}", markup=False)
        return 2
    console = Console()
    for status in found:
        console.print_json(json.dumps(status))
    if not found:
        Console(stderr=True).print(f"no live search {args.run_id or ''} in namespace {args.namespace}")
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
