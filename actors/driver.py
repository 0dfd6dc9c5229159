"""`run_with_ray`: the cluster=ray path of launch. Places the actors, runs the named controller actor,
relays its progress to the caller, and tears everything down; the store on disk stays the truth.

Placement: the archive and controller are pinned to the driver's node (the run directory lives there,
and they survive the loss of any other node); evaluators and expanders share one placement group
(`fleet@<run id>`), one bundle per accelerator and one per expander, granted all at once so that runs
sharing a cluster queue for it instead of starving each other; expanders never take an accelerator.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError
from ray.util.placement_group import PlacementGroup, remove_placement_group
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

from actors.archive import ArchiveActor
from actors.controller import ControllerActor
from actors.evaluator import EvaluatorActor, build_evaluator
from actors.expander import ExpanderActor, build_operator_for
from actors.llm_serve import reserved_gpus, served_llm
from actors.placement import (
    FleetPlan,
    connect,
    eval_batch,
    evaluator_count,
    feed_for,
    place_fleet,
    plan_fleet,
)
from kernelevolve.controller import Outcome, Snapshot
from kernelevolve.core.errors import KernelEvolveError
from kernelevolve.eval.config import for_cluster
from kernelevolve.eval.protocols import Judge
from kernelevolve.operator.protocols import Operator
from kernelevolve.report.data import CLUSTER_STATS
from kernelevolve.runner import Lifecycle, Run, run_lifecycle

logger = logging.getLogger(__name__)

POLL_S = 0.5  # how often the driver relays the controller's progress


@dataclasses.dataclass(kw_only=True)
class Fleet:
    """The actors of one ray run, by name."""

    archive: Any
    group: PlacementGroup
    evaluators: dict[str, Any]
    expanders: dict[str, Any]
    asked: str = ""  # what the placement group holds, e.g. "2 CPU, 0 GPU (1 evaluator(s) ...)"
    waited_s: float = 0.0  # seconds the run waited for its placement group (other runs held the resources)


def _task_ref(run: Run) -> str:
    return str(Path(run.config.task.path).resolve()) if run.config.task.path else run.config.task.name


def _spawn_evaluators(run: Run, group: PlacementGroup, plan: FleetPlan, archive: Any,
                      judge_factory: Callable[[], Judge] | None) -> dict[str, Any]:
    c = run.config.cluster
    out = {}
    for i, bundle in enumerate(plan.bundles[:plan.evaluators]):
        name = f"evaluator-{i}@{run.run_id}"
        factory = judge_factory or functools.partial(build_evaluator, _task_ref(run), run.platform, run.config.eval,
                                                     str(run.run_dir.resolve() / "eval" / f"evaluator-{i}"))
        custom = {k: v for k, v in bundle.items() if k not in ("CPU", "GPU")}
        shared = c.cpus_per_expander * plan.expander_bundles.count(i)  # expanders folded in (strict_spread)
        out[name] = EvaluatorActor.options(
            name=name, num_cpus=bundle["CPU"] - shared,
            num_gpus=bundle.get("GPU", 0), resources=custom,
            max_restarts=c.max_restarts, max_concurrency=eval_batch(run.config) + 2,
            scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=i),
        ).remote(name, run.run_id, factory, archive, run.platform, run.config.eval.judges_per_device)
    return out


def _spawn_expanders(run: Run, group: PlacementGroup, plan: FleetPlan, archive: Any,
                     operator_factory: Callable[[], Operator] | None) -> dict[str, Any]:
    c = run.config.cluster
    factory = operator_factory or functools.partial(build_operator_for, run.config, _task_ref(run))
    out = {}
    for i, bundle_index in enumerate(plan.expander_bundles):
        name = f"expander-{i}@{run.run_id}"
        out[name] = ExpanderActor.options(
            name=name, num_cpus=c.cpus_per_expander, max_restarts=c.max_restarts,
            max_concurrency=c.expander_concurrency,
            scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=bundle_index),
        ).remote(name, factory, archive)
    return out


def fleet_plan(run: Run, reserved_gpus: int = 0) -> FleetPlan:
    """Returns the bundles of the run's fleet; `reserved_gpus` (a served model's) are not counted as evaluators'."""
    run = for_fleet(run)
    c = run.config.cluster
    count = evaluator_count(c, reserved_gpus)
    return plan_fleet(c, count, needs_device=run.platform != "cpu", compile_workers=run.config.eval.precompile_workers,
                      judges=run.config.eval.judges_per_device, expanders=feed_for(run.config, count).expanders)


def for_fleet(run: Run) -> Run:
    """Returns run with its auto eval counts made numbers: judges per device for its platform, and the compile
    workers each evaluator's bundle is sized for (eval.config.for_cluster)."""
    fleet = for_cluster(run.config.eval, platform=run.platform, concurrency=run.config.search.concurrency)
    return dataclasses.replace(run, config=dataclasses.replace(run.config, eval=fleet))


def start_fleet(run: Run, judge_factory: Callable[[], Judge] | None = None,
                operator_factory: Callable[[], Operator] | None = None,
                on_wait: Callable[[str], None] | None = None, plan: FleetPlan | None = None) -> Fleet:
    """Returns the run's archive, evaluators and expanders, each ready to serve.

    The whole fleet sits in one placement group, granted all at once (actors/resources.py says why);
    while other runs hold the resources it waits, reporting what it waits for through `on_wait`.
    """
    run = for_fleet(run)
    c = run.config.cluster
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    plan = plan or fleet_plan(run)
    started = time.monotonic()
    group = place_fleet(c, plan, name=f"fleet@{run.run_id}", on_wait=on_wait)
    waited_s = time.monotonic() - started
    archive = ArchiveActor.options(name=f"archive@{run.run_id}", scheduling_strategy=here).remote(
        str(run.run_dir.resolve()), run.run_id, run.task.name, run.platform, run.config.store)
    fleet = Fleet(archive=archive, group=group, evaluators=_spawn_evaluators(run, group, plan, archive, judge_factory),
                  expanders=_spawn_expanders(run, group, plan, archive, operator_factory), asked=plan.describe(),
                  waited_s=waited_s)
    actors = {"archive": archive, **fleet.evaluators, **fleet.expanders}
    _await_started(actors, c.start_timeout_s)
    logger.info("ray fleet up: %s", plan.describe())
    return fleet


def _await_started(actors: dict[str, Any], timeout_s: float) -> None:
    """Returns once every actor answers `ping`; raises KernelEvolveError naming those that did not start in time."""
    pings = {actors[name].ping.remote(): name for name in actors}
    ready, pending = ray.wait(list(pings), num_returns=len(pings), timeout=timeout_s)
    ray.get(ready)  # an actor whose constructor raised fails here, with its own error
    if pending:
        late = sorted(pings[ref] for ref in pending)
        raise KernelEvolveError(f"fleet actors {late} did not start within {timeout_s:g}s of their placement "
                                "(cluster.start_timeout_s); see their logs in the Ray dashboard.")


def stop_fleet(fleet: Fleet, skip: frozenset[str] = frozenset(), timeout_s: float = 30.0) -> None:
    """Closes the judges (of evaluators not in `skip`) and the archive, kills every actor, frees the group."""
    closing = [e.close.remote() for name, e in fleet.evaluators.items() if name not in skip]
    ray.wait(closing, num_returns=len(closing), timeout=timeout_s)
    ray.wait([fleet.archive.close.remote()], timeout=timeout_s)
    for actor in [*fleet.evaluators.values(), *fleet.expanders.values(), fleet.archive]:
        ray.kill(actor, no_restart=True)
    remove_placement_group(fleet.group)


def _relay(controller: Any, ref: Any, life: Lifecycle) -> Outcome:
    """Returns the controller's outcome, passing its snapshots to `life.on_event` meanwhile (the last one's
    progress kept in `life.progress`)."""
    while True:
        ready, _ = ray.wait([ref], timeout=POLL_S)
        snapshot = ray.get(controller.snapshot.remote())
        if snapshot is not None:
            life.progress = snapshot.progress
            if life.on_event is not None:
                life.on_event(snapshot)
        if ready:
            return ray.get(ref)


def _save_cluster_stats(fleet: Fleet, status: dict[str, Any], timeout_s: float = 5.0) -> None:
    """Stores cluster_stats.json: the controller's status and the stats of every evaluator that answers."""
    refs = [e.stats.remote() for e in fleet.evaluators.values()]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    evaluators = []
    for ref in ready:
        try:
            evaluators.append(ray.get(ref))
        except RayActorError:
            logger.warning("an evaluator died before reporting its stats")
    for entry in evaluators:
        entry["quarantined"] = entry["name"] in status["quarantined"]
    stats = {"evaluators": evaluators, "controller": status,
             "fleet": {"asked": fleet.asked, "placement_wait_s": fleet.waited_s}}
    ray.get(fleet.archive.put_object.remote(CLUSTER_STATS, json.dumps(stats, indent=1).encode()))
    for name, why in status["quarantined"].items():
        logger.error("actor %s was quarantined: %s", name, why)


def run_with_ray(run: Run, on_event: Callable[[Snapshot], None] | None = None, *,
                 judge_factory: Callable[[], Judge] | None = None,
                 operator_factory: Callable[[], Operator] | None = None,
                 on_wait: Callable[[str], None] | None = None) -> Outcome:
    """Runs the search on Ray (starting or joining it per `cluster`); returns the outcome.

    `judge_factory` / `operator_factory` build each actor's judge / operator (tests inject fakes);
    by default evaluators build the core Evaluator and expanders the configured operator. `on_wait` gets
    a status line while the run waits for its resources.
    """
    started = connect(run.config.cluster)
    quarantined: frozenset[str] = frozenset()
    try:
        with run_lifecycle(run, on_event) as life:  # seeds are read before the archive actor becomes the writer
            # auto judge and compile-worker counts become the per-evaluator numbers the bundles are sized for
            run = for_fleet(run)
            plan = fleet_plan(run, reserved_gpus(run.config))
            with served_llm(run.config, plan, owns_ray=started and run.config.cluster.address is None) as config:
                run = dataclasses.replace(run, config=config)
                fleet, controller = start_fleet(run, judge_factory, operator_factory, on_wait, plan), None
                try:
                    controller = ControllerActor.options(
                        name=f"controller@{run.run_id}",
                        scheduling_strategy=NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(),
                                                                           soft=False),
                    ).remote(run_id=run.run_id, config=run.config, operator_name=run.operator.name, graph=life.graph,
                             progress=life.progress, seeds=life.seeds, archive=fleet.archive,
                             expanders=fleet.expanders, evaluators=fleet.evaluators)
                    with life.heartbeat():
                        outcome = _relay(controller, controller.run.remote(), life)
                    life.outcome = outcome
                    live = ray.get(controller.status.remote())
                    quarantined = frozenset(live["quarantined"])
                    _save_cluster_stats(fleet, live)
                finally:
                    if controller is not None:
                        ray.kill(controller, no_restart=True)
                    stop_fleet(fleet, skip=quarantined)
    finally:
        if started:
            ray.shutdown()
    return outcome
