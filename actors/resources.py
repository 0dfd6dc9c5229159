"""Resource arithmetic for a run's fleet: what it asks for, whether the cluster could ever give it, and
the one line that says so. Plain dicts ({"CPU": 2.0, "GPU": 1.0}), no Ray: placement.py feeds it what
Ray reports.

Why a run reserves everything at once: two runs that each reserved part of what they need (say, the
evaluator bundle) and then waited for the rest (the expanders' CPUs) starve each other forever; one
placement group holding the whole fleet is granted all or nothing, so a run that does not fit waits
whole, and runs queue instead of deadlocking.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping, Sequence

Resources = Mapping[str, float]
EPS = 1e-9  # Ray's fractional resources are fixed-point (1e-4); anything below this is rounding


def total(bundles: Iterable[Resources]) -> dict[str, float]:
    """Returns the sum of the bundles, resource by resource."""
    out: dict[str, float] = collections.defaultdict(float)
    for bundle in bundles:
        for name, amount in bundle.items():
            out[name] += amount
    return dict(out)


def fits(bundle: Resources, capacity: Resources) -> bool:
    """Returns True when `capacity` holds every resource of `bundle`."""
    return all(capacity.get(name, 0.0) + EPS >= amount for name, amount in bundle.items())


def describe(resources: Resources) -> str:
    """Returns '2 CPU, 1 GPU' (CPU and GPU always named, zero or not; other resources when non-zero)."""
    names = ["CPU", "GPU", *sorted(k for k in resources if k not in ("CPU", "GPU") and _shown(k))]
    return ", ".join(f"{resources.get(k, 0.0):g} {k}" for k in names)


def _shown(name: str) -> bool:
    """Returns False for Ray's bookkeeping resources (memory, node:<ip>, accelerator_type:..., and the
    per-placement-group ones such as GPU_group_<id> and bundle_group_<i>_<id>)."""
    return (name not in ("memory", "object_store_memory") and ":" not in name and "_group_" not in name
            and not name.startswith(("node", "bundle_group")))


def _fits_one_each(bundles: Sequence[Resources], nodes: Sequence[Resources]) -> bool:
    """Returns True when every bundle can sit on a different node (greedy, largest bundles first)."""
    free = list(nodes)
    for bundle in sorted(bundles, key=lambda b: -sum(b.values())):
        spot = next((i for i, node in enumerate(free) if fits(bundle, node)), None)
        if spot is None:
            return False
        free.pop(spot)
    return True


def why_never(bundles: Sequence[Resources], strategy: str, nodes: Sequence[Resources]) -> str | None:
    """Returns why the cluster's nodes (their total resources) can never hold the bundles, or None when
    they could once other work frees them.

    pack/spread need each bundle to fit some node and the sum to fit the cluster; strict_pack needs the
    sum on one node; strict_spread one distinct node per bundle. A fragmented cluster that passes these
    checks but still cannot pack the bundles waits (its status line shows what is free).
    """
    need, have = total(bundles), total(nodes)
    if strategy == "strict_pack":
        if not any(fits(need, node) for node in nodes):
            return f"strict_pack needs {describe(need)} on one node; the largest node has {describe(_largest(nodes))}"
        return None
    if strategy == "strict_spread":
        if not _fits_one_each(bundles, nodes):
            return f"strict_spread needs {len(bundles)} nodes of {describe(bundles[0])} each; the cluster has {len(nodes)} node(s)"
        return None
    lonely = next((b for b in bundles if not any(fits(b, node) for node in nodes)), None)
    if lonely is not None:
        return f"no node can hold a bundle of {describe(lonely)} (the largest node has {describe(_largest(nodes))})"
    if not fits(need, have):
        return f"the cluster has {describe(have)} in total"
    return None


def _largest(nodes: Sequence[Resources]) -> Resources:
    return max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)), default={})
