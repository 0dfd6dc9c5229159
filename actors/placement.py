"""Joining or starting Ray, and placing a run's fleet: one placement group, one bundle per accelerator
and one per expander, granted all at once (see resources.py for why)."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group

from actors import resources
from actors.feed import FeedPlan, plan_feed
from kernelevolve.cli import reassert_terminate_handler
from kernelevolve.config import ClusterConfig, Config, PlacementStrategy
from kernelevolve.core.errors import ConfigError
from kernelevolve.eval.config import AUTO

logger = logging.getLogger(__name__)

WAIT_STATUS_S = 2.0  # how often a run waiting for its placement group says what it waits for


def connect(config: ClusterConfig) -> bool:
    """Starts a local Ray instance or joins `config.address`; returns True when this call started Ray.

    Ray's own runtime_env is not used: the workers import kernelevolve from the same environment
    (a local instance) or from the image the cluster was built with (cluster/).
    """
    if ray.is_initialized():
        return False
    kwargs: dict[str, object] = {"namespace": config.namespace, "log_to_driver": True}
    if config.address is not None:
        try:
            ray.init(address=config.address, **kwargs)
            reassert_terminate_handler()
        except ConnectionError as exc:
            raise ConfigError(f"cluster.address={config.address}: {no_ray_cluster(exc)}, or leave cluster.address "
                              "unset to start a local Ray instance.") from exc
        logger.info("joined Ray cluster at %s", config.address)
        return True
    if config.num_cpus > 0:
        kwargs["num_cpus"] = config.num_cpus
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    ray.init(**kwargs)
    reassert_terminate_handler()  # ray.init replaced the launch's SIGTERM handler
    logger.info("started a local Ray instance: %s", ray.cluster_resources())
    return True


def no_ray_cluster(exc: ConnectionError) -> str:
    """Returns what to say when Ray finds no cluster at an address: Ray's reason and the ways to get one."""
    return (f"no Ray cluster is reachable ({exc}); start one with `ray start --head` or give a running one's "
            "address (auto, ray://<head>:10001)")


def evaluator_count(config: ClusterConfig, reserved: int = 0) -> int:
    """Returns how many evaluators to place: the configured count, or one per unit of `resource` less the
    `reserved` units (the GPUs of a model this launch serves, when `resource` is GPU)."""
    if config.evaluators > 0:
        return config.evaluators
    if not config.resource:
        return 1
    return max(1, int(ray.cluster_resources().get(config.resource, 0)) - reserved)


def evaluator_bundles(config: ClusterConfig, count: int, *, needs_device: bool,
                      compile_workers: int = 0, judges: int = 1) -> list[dict[str, float]]:
    """Returns one bundle per evaluator: {resource: 1, CPU: k}.

    The accelerator is always asked for on a device platform (cuda, rocm, mtia), so a cluster without
    it fails loudly in place_fleet; on the cpu platform it is taken only where the cluster has it.
    On a device platform k is at least `judges` + `compile_workers` (eval.judges_per_device and
    eval.precompile_workers: one CPU each), so neither the judges nor the compile-only workers
    oversubscribe the bundle; the cpu platform runs no compile workers (the interpreter compiles nothing).
    """
    cpus = max(config.cpus_per_evaluator, judges + compile_workers) if needs_device else config.cpus_per_evaluator
    bundle: dict[str, float] = {"CPU": cpus}
    has_resource = bool(config.resource) and ray.cluster_resources().get(config.resource, 0) > 0
    if config.resource and (has_resource or needs_device):
        bundle[config.resource] = 1.0
    elif config.resource:
        logger.info("cluster has no %s resource: placing %d CPU-only evaluator(s)", config.resource, count)
    return [dict(bundle) for _ in range(count)]


@dataclasses.dataclass(frozen=True, kw_only=True)
class FleetPlan:
    """The bundles of one run's placement group: evaluators first, then one per expander.

    Attributes:
        bundles: every bundle, in placement-group order.
        evaluators: how many leading bundles are evaluator bundles (one evaluator each).
        expander_bundles: the bundle index of each expander (under strict_spread the expanders share
            the evaluator bundles, which grow by their CPUs: one more node per expander is not worth it).
    """

    bundles: list[dict[str, float]]
    evaluators: int
    expander_bundles: list[int]

    def describe(self) -> str:
        """Returns what the plan asks for, e.g. '2 CPU, 0 GPU (1 evaluator(s) of 1 CPU, 0 GPU + 2 expander(s))'."""
        return (f"{resources.describe(resources.total(self.bundles))} ({self.evaluators} evaluator(s) of "
                f"{resources.describe(self.bundles[0])} + {len(self.expander_bundles)} expander(s))")


def plan_fleet(config: ClusterConfig, count: int, *, needs_device: bool, compile_workers: int = 0,
               judges: int = 1, expanders: int | None = None) -> FleetPlan:
    """Returns the bundles of a run with `count` evaluators of `judges` judges and `expanders` expanders
    (default config.expanders; feed_for says how many keep the evaluators fed)."""
    bundles = evaluator_bundles(config, count, needs_device=needs_device, compile_workers=compile_workers,
                                judges=judges)
    expanders = max(1, config.expanders if expanders is None else expanders)
    if config.placement is PlacementStrategy.strict_spread:
        slots = [i % count for i in range(expanders)]
        for i in slots:
            bundles[i]["CPU"] += config.cpus_per_expander
        return FleetPlan(bundles=bundles, evaluators=count, expander_bundles=slots)
    slots = list(range(count, count + expanders))
    bundles += [{"CPU": config.cpus_per_expander} for _ in slots]
    return FleetPlan(bundles=bundles, evaluators=count, expander_bundles=slots)


def place_fleet(config: ClusterConfig, plan: FleetPlan, name: str,
                on_wait: Callable[[str], None] | None = None) -> PlacementGroup:
    """Returns the run's ready placement group, waiting while other work holds the resources.

    Raises ConfigError at once when the cluster's nodes can never hold the plan, and after
    config.placement_timeout_s of waiting when that is set (0: wait as long as it takes, the queue of a sweep).
    """
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    never = resources.why_never(plan.bundles, config.placement.value, nodes)
    if never is not None:
        raise ConfigError(f"this run asks for {plan.describe()} with strategy {config.placement.value}, "
                          f"which can never be placed: {never}. Lower cluster.evaluators / cluster.cpus_per_evaluator"
                          " / cluster.expanders / eval.precompile_workers, change cluster.resource, or add nodes.")
    group = placement_group(plan.bundles, strategy=config.placement.value.upper(), name=name)
    started, said, ready = time.monotonic(), None, group.ready()  # one readiness task, waited on repeatedly
    limit = config.placement_timeout_s or float("inf")
    while not ray.wait([ready], timeout=min(WAIT_STATUS_S, limit))[0]:
        waited = time.monotonic() - started
        status = (f"waiting for resources ({waited:.0f}s): this run needs {plan.describe()}; free now "
                  f"{resources.describe(ray.available_resources())} of {resources.describe(ray.cluster_resources())}")
        if on_wait is not None:
            on_wait(status)
        if status.split(": ", 1)[1] != said:  # log when what is free changes, not every tick
            said = status.split(": ", 1)[1]
            logger.warning("%s", status)
        if waited >= limit:
            remove_placement_group(group)
            raise ConfigError(
                f"could not place {plan.evaluators} evaluator(s) of {plan.bundles[0]} with strategy "
                f"{config.placement.value} within {config.placement_timeout_s:g}s; the run needs {plan.describe()} "
                f"and the cluster has {resources.describe(ray.available_resources())} free. Wait for other runs, lower "
                "cluster.evaluators / cluster.cpus_per_evaluator / eval.precompile_workers, or add nodes.")
    return group


def eval_batch(config: Config) -> int:
    """Returns the candidates in flight per evaluator: cluster.eval_batch, raised to judges_per_device +
    precompile_workers so that every compile worker has a candidate while every judge holds one. `config` is the
    fleet's, its auto counts resolved (actors.driver.for_fleet)."""
    judges, compile_workers = config.eval.judges_per_device, config.eval.precompile_workers
    if AUTO in (judges, compile_workers):
        raise ValueError("eval_batch needs eval counts resolved for the fleet (actors.driver.for_fleet), not auto")
    return max(config.cluster.eval_batch, judges + compile_workers)


def feed_for(config: Config, evaluators: int) -> FeedPlan:
    """Returns the in-flight target and expander count that keep `evaluators` evaluators fed (feed.py)."""
    c = config.cluster
    return plan_feed(eval_slots=evaluators * eval_batch(config), concurrency=config.search.concurrency,
                     expanders=c.expanders, expander_concurrency=c.expander_concurrency,
                     expansions_per_slot=c.expansions_per_slot)
