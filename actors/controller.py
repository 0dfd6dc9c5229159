"""The search controller as a named Ray actor (`controller@<run id>`), so `python -m actors.status` and
the dashboard can find it. It holds the core Controller (policy + graph), whose operator and judge are
served by expander and evaluator actors and whose writes go through the archive actor.

Backpressure is the core Controller's: at most `concurrency` expansions + evaluations are in flight, so
when evaluators are the bottleneck the evaluation queue stays bounded and no new expansions start
(expanders idle) until a verdict comes back. That target grows with the fleet (feed.py): every evaluation
slot gets cluster.expansions_per_slot expansions behind it, so N evaluators have candidates to take. The
snapshots and `status` say whether the operator or the evaluators limit the run.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import ray

from actors._logging import setup_actor_logging
from actors.archive import ArchiveClient
from actors.feed import Diagnosis, Limit, diagnose
from actors.metrics import controller_metrics
from actors.placement import feed_for
from actors.pool import RemoteJudge, RemoteOperator, ResilientPool
from kernelevolve.config import Config
from kernelevolve.controller import Controller, Outcome, Snapshot
from kernelevolve.core.types import Candidate
from kernelevolve.feed import FeedMeter, Pool
from kernelevolve.search.factory import build_policy
from kernelevolve.search.graph import Graph
from kernelevolve.search.termination import Progress

logger = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_concurrency=4)
class ControllerActor:
    """Runs one search; `snapshot` and `status` answer while `run` is in progress (threaded actor)."""

    def __init__(self, *, run_id: str, config: Config, operator_name: str, graph: Graph, progress: Progress,
                 seeds: list[Candidate], archive: Any, expanders: dict[str, Any], evaluators: dict[str, Any]) -> None:
        setup_actor_logging(config.run.log_level)
        c = config.cluster
        limits = {"quarantine_after": c.quarantine_after, "restart_timeout_s": c.restart_timeout_s,
                  "max_restarts": c.max_restarts}
        self._feed = feed_for(config, len(evaluators))
        self._meter = FeedMeter(eval_slots=self._feed.eval_slots, expand_slots=len(expanders) * c.expander_concurrency)
        self._expanders = ResilientPool(Pool.EXPANDERS, expanders, **limits, meter=self._meter)
        self._evaluators = ResilientPool(Pool.EVALUATORS, evaluators, **limits, meter=self._meter)
        self._run_id = run_id
        self._snapshot: Snapshot | None = None
        self._reported = Progress()
        if self._feed.concurrency > config.search.concurrency:
            logger.info("controller@%s: %d in flight (search.concurrency %d) to feed %d evaluation slots",
                        run_id, self._feed.concurrency, config.search.concurrency, self._feed.eval_slots)
        search = dataclasses.replace(config.search, concurrency=self._feed.concurrency)
        self._controller = Controller(
            config=search, policy=build_policy(search),
            operator=RemoteOperator(self._expanders, operator_name), judge=RemoteJudge(self._evaluators),
            archive=ArchiveClient(archive, run_id), seed=config.run.seed, on_event=self._on_event,
            graph=graph, progress=progress, seeds=seeds, eval_slots=self._feed.eval_slots)

    def run(self) -> Outcome:
        """Searches to termination and returns the outcome."""
        logger.info("controller@%s: searching with %d expanders, %d evaluators", self._run_id,
                    self._expanders.size, self._evaluators.size)
        return self._controller.run()

    def snapshot(self) -> Snapshot | None:
        """Returns the latest progress snapshot with the bottleneck line as of now (None before the first event)."""
        return None if self._snapshot is None else dataclasses.replace(self._snapshot, bottleneck=self._diagnose().line)

    def status(self) -> dict[str, Any]:
        """Returns a live summary: counters, in-flight work and its target, what limits the run, best node,
        quarantined actors."""
        p = self._controller.progress
        best = self._controller.graph.best()
        reading = self._meter.reading()
        verdict = diagnose(reading, expand_slots=self._meter.capacity[Pool.EXPANDERS])
        return {"run_id": self._run_id, "evaluated": p.evaluated, "failures": p.failures,
                "expansions_in_flight": reading.expanding, "evaluations_in_flight": reading.evaluating,
                "concurrency": self._feed.concurrency, "eval_slots": self._feed.eval_slots,
                "eval_slots_busy": round(reading.eval_busy, 3), "eval_slots_starved": round(reading.starved, 3),
                "expanders_busy": round(reading.expand_busy, 3),
                "bottleneck": verdict.limit.value, "bottleneck_line": verdict.line,
                "best_node": None if best is None else best.id, "best_fitness": p.best_fitness,
                "tokens": p.tokens, "dollars": p.dollars, "elapsed_s": p.elapsed_s,
                "quarantined": {**self._expanders.quarantined, **self._evaluators.quarantined}}

    def _diagnose(self) -> Diagnosis:
        return diagnose(self._meter.reading(), expand_slots=self._meter.capacity[Pool.EXPANDERS])

    def _on_event(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        m, p, tags = controller_metrics(), snapshot.progress, {"run_id": self._run_id}
        expanding = self._expanders.in_flight()
        if p.evaluated > self._reported.evaluated:
            m["evaluated"].inc(p.evaluated - self._reported.evaluated, tags=tags)
        if p.tokens > self._reported.tokens:
            m["tokens"].inc(p.tokens - self._reported.tokens, tags=tags)
        if p.dollars > self._reported.dollars:
            m["dollars"].inc(p.dollars - self._reported.dollars, tags=tags)
        m["expanding"].set(expanding, tags=tags)
        m["eval_queue"].set(max(0, snapshot.in_flight - expanding), tags=tags)
        m["best"].set(p.best_fitness, tags=tags)
        m["quarantined"].set(len(self._evaluators.quarantined), tags=tags)
        m["slots_busy"].set(self._meter.reading().eval_busy, tags=tags)
        m["operator_bound"].set(float(self._diagnose().limit is Limit.OPERATOR), tags=tags)
        self._reported = Progress(evaluated=p.evaluated, tokens=p.tokens, dollars=p.dollars)
