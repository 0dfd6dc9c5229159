"""The search controller as a named Ray actor (`controller@<run id>`), so `python -m actors.status` and
the dashboard can find it. It holds the core Controller (policy + graph), whose operator and judge are
served by expander and evaluator actors and whose writes go through the archive actor.

Backpressure is the core Controller's: at most `search.concurrency` expansions + evaluations are in
flight, so when evaluators are the bottleneck the evaluation queue stays bounded and no new expansions
start (expanders idle) until a verdict comes back.
"""

from __future__ import annotations

import logging
from typing import Any

import ray

from actors._logging import setup_actor_logging
from actors.archive import ArchiveClient
from actors.metrics import controller_metrics
from actors.placement import eval_batch
from actors.pool import RemoteJudge, RemoteOperator, ResilientPool
from kernelevolve.config import Config
from kernelevolve.controller import Controller, Outcome, Snapshot
from kernelevolve.core.types import Candidate
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
        self._expanders = ResilientPool("expander", expanders, **limits)
        self._evaluators = ResilientPool("evaluator", evaluators, **limits)
        self._run_id = run_id
        self._snapshot: Snapshot | None = None
        self._reported = Progress()
        self._controller = Controller(
            config=config.search, policy=build_policy(config.search),
            operator=RemoteOperator(self._expanders, operator_name), judge=RemoteJudge(self._evaluators),
            archive=ArchiveClient(archive, run_id), seed=config.run.seed, on_event=self._on_event,
            graph=graph, progress=progress, seeds=seeds, eval_slots=len(evaluators) * eval_batch(config))

    def run(self) -> Outcome:
        """Searches to termination and returns the outcome."""
        logger.info("controller@%s: searching with %d expanders, %d evaluators", self._run_id,
                    self._expanders.size, self._evaluators.size)
        return self._controller.run()

    def snapshot(self) -> Snapshot | None:
        """Returns the latest progress snapshot (None before the first event)."""
        return self._snapshot

    def status(self) -> dict[str, Any]:
        """Returns a live summary: counters, in-flight work, best node, quarantined actors."""
        p = self._controller.progress
        best = self._controller.graph.best()
        return {"run_id": self._run_id, "evaluated": p.evaluated, "failures": p.failures,
                "expansions_in_flight": self._expanders.in_flight(), "evaluations_in_flight": self._evaluators.in_flight(),
                "best_node": None if best is None else best.id, "best_fitness": p.best_fitness,
                "tokens": p.tokens, "dollars": p.dollars, "elapsed_s": p.elapsed_s,
                "quarantined": {**self._expanders.quarantined, **self._evaluators.quarantined}}

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
        self._reported = Progress(evaluated=p.evaluated, tokens=p.tokens, dollars=p.dollars)
