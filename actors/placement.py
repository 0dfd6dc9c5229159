"""Joining or starting Ray, and placing evaluators: one placement-group bundle per accelerator."""

from __future__ import annotations

import logging
import os

import ray
from ray.exceptions import GetTimeoutError
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group

from kernelevolve.config import ClusterConfig, Config
from kernelevolve.core.errors import ConfigError

logger = logging.getLogger(__name__)


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
        except ConnectionError as exc:
            raise ConfigError(f"cluster.address={config.address}: {no_ray_cluster(exc)}, or leave cluster.address "
                              "unset to start a local Ray instance.") from exc
        logger.info("joined Ray cluster at %s", config.address)
        return True
    if config.num_cpus > 0:
        kwargs["num_cpus"] = config.num_cpus
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    ray.init(**kwargs)
    logger.info("started a local Ray instance: %s", ray.cluster_resources())
    return True


def no_ray_cluster(exc: ConnectionError) -> str:
    """Returns what to say when Ray finds no cluster at an address: Ray's reason and the ways to get one."""
    return (f"no Ray cluster is reachable ({exc}); start one with `ray start --head` or give a running one's "
            "address (auto, ray://<head>:10001)")


def evaluator_count(config: ClusterConfig) -> int:
    """Returns how many evaluators to place: the configured count, or one per unit of `resource`."""
    if config.evaluators > 0:
        return config.evaluators
    if not config.resource:
        return 1
    return max(1, int(ray.cluster_resources().get(config.resource, 0)))


def evaluator_bundles(config: ClusterConfig, count: int, *, needs_device: bool,
                      compile_workers: int = 0) -> list[dict[str, float]]:
    """Returns one bundle per evaluator: {resource: 1, CPU: k}.

    The accelerator is always asked for on a device platform (cuda, rocm, mtia), so a cluster without
    it fails loudly in place_evaluators; on the cpu platform it is taken only where the cluster has it.
    On a device platform k is at least 1 + `compile_workers` (eval.precompile_workers: one CPU each,
    beside the judge's own), so the compile-only workers never oversubscribe the bundle; the cpu
    platform runs none (the interpreter compiles nothing).
    """
    cpus = max(config.cpus_per_evaluator, 1.0 + compile_workers) if needs_device else config.cpus_per_evaluator
    bundle: dict[str, float] = {"CPU": cpus}
    has_resource = bool(config.resource) and ray.cluster_resources().get(config.resource, 0) > 0
    if config.resource and (has_resource or needs_device):
        bundle[config.resource] = 1.0
    elif config.resource:
        logger.info("cluster has no %s resource: placing %d CPU-only evaluator(s)", config.resource, count)
    return [dict(bundle) for _ in range(count)]


def place_evaluators(config: ClusterConfig, count: int, name: str, *, needs_device: bool,
                     compile_workers: int = 0) -> tuple[PlacementGroup, list[dict[str, float]]]:
    """Returns a ready placement group of `count` evaluator bundles; raises ConfigError when it cannot be met."""
    bundles = evaluator_bundles(config, count, needs_device=needs_device, compile_workers=compile_workers)
    group = placement_group(bundles, strategy=config.placement.value.upper(), name=name)
    try:
        ray.get(group.ready(), timeout=config.placement_timeout_s)
    except GetTimeoutError:
        remove_placement_group(group)
        raise ConfigError(
            f"could not place {count} evaluator(s) of {bundles[0]} with strategy {config.placement.value} "
            f"within {config.placement_timeout_s:g}s; the cluster has {ray.available_resources()}. "
            "Lower cluster.evaluators / cluster.cpus_per_evaluator / eval.precompile_workers, change "
            "cluster.resource, or add nodes."
        ) from None
    return group, bundles


def eval_batch(config: Config) -> int:
    """Returns the candidates in flight per evaluator: cluster.eval_batch, raised to precompile_workers + 1
    so that every compile worker has a candidate while another one holds the device."""
    return max(config.cluster.eval_batch, config.eval.precompile_workers + 1)
