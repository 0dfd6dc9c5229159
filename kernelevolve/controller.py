"""The Ray-free search controller: keeps `concurrency` expansions in flight, evaluates one at a time.

Expansions (LLM calls, mutations) run on a thread pool; evaluation runs on one thread because the
evaluator owns one device exclusively. Results are integrated as they arrive: no generation barrier.
The archive is written before the in-memory graph, so the store is always the truth.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

import numpy as np

from kernelevolve.core.types import Candidate, EvalResult, EvalStatus, Node, NodeState
from kernelevolve.operator.expansion import Expansion, ExpansionRequest, Operator
from kernelevolve.operator.offline import source_hash
from kernelevolve.search.config import SearchConfig
from kernelevolve.search.graph import Graph
from kernelevolve.search.protocols import Policy
from kernelevolve.search.termination import Progress, StopReason, check_termination
from kernelevolve.store.archive import Archive

logger = logging.getLogger(__name__)

N_INSPIRATIONS = 2


class Judge(Protocol):
    """What the controller needs of an evaluator."""

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        """Returns the verdict on one candidate source."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class Snapshot:
    """What a progress display shows after each event."""

    progress: Progress
    max_steps: int
    in_flight: int
    best: Node | None
    last: Node | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outcome:
    """How a search ended."""

    stop_reason: StopReason
    best: Node | None
    progress: Progress
    graph: Graph


class Controller:
    """Runs one search over one task with an injected policy, operator, judge and archive."""

    def __init__(self, *, config: SearchConfig, policy: Policy, operator: Operator, judge: Judge,
                 archive: Archive, seed: int, on_event: Callable[[Snapshot], None] | None = None,
                 graph: Graph | None = None, progress: Progress | None = None, eval_slots: int = 1) -> None:
        self.config = config
        self.policy = policy
        self.operator = operator
        self.judge = judge
        self.archive = archive
        self.rng = np.random.default_rng(seed)
        self.on_event = on_event
        self.eval_slots = eval_slots  # evaluations run at once: one per exclusive device
        self.graph = graph if graph is not None else Graph()
        self.progress = progress if progress is not None else Progress()
        self._elapsed_before = self.progress.elapsed_s
        self._seen = {source_hash(n.candidate.source) for n in self.graph.nodes()}
        self._expanding: dict[Future[Expansion], int] = {}
        self._evaluating: dict[Future[EvalResult], Node] = {}
        self._consecutive_expansion_failures = 0

    def run(self) -> Outcome:
        """Searches until a termination condition holds; returns the stop reason and the best node."""
        start = time.monotonic()
        with ThreadPoolExecutor(max(1, self.config.concurrency), thread_name_prefix="expand") as expand_pool, \
                ThreadPoolExecutor(self.eval_slots, thread_name_prefix="evaluate") as eval_pool:
            self._expand_pool, self._eval_pool = expand_pool, eval_pool
            self._requeue_pending()
            if len(self.graph) == 0:
                self._submit_evaluation(self._new_node(self.operator.seed()))
            reason = self._loop(start)
            self._drain(start)
        self.progress.elapsed_s = self._elapsed_before + time.monotonic() - start
        return Outcome(stop_reason=reason, best=self.graph.best(), progress=self.progress, graph=self.graph)

    def _loop(self, start: float) -> StopReason:
        while True:
            self.progress.elapsed_s = self._elapsed_before + time.monotonic() - start
            reason = check_termination(self.config, self.progress)
            if reason is not None:
                return reason
            self._fill()
            if not self._expanding and not self._evaluating:
                return StopReason.EXHAUSTED
            timeout = None if self.config.max_wall_s <= 0 else max(0.1, self.config.max_wall_s - self.progress.elapsed_s)
            done, _ = wait([*self._expanding, *self._evaluating], timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                self._integrate(future)

    def _drain(self, start: float) -> None:
        """Finishes work already started so nothing in flight is lost; starts nothing new."""
        for future in list(self._expanding):
            if future.cancel():
                del self._expanding[future]
        while self._expanding or self._evaluating:
            done, _ = wait([*self._expanding, *self._evaluating], return_when=FIRST_COMPLETED)
            for future in done:
                self._integrate(future)
        self.progress.elapsed_s = self._elapsed_before + time.monotonic() - start

    def _fill(self) -> None:
        """Starts expansions until `concurrency` items are in flight or the step budget is committed."""
        while len(self._expanding) + len(self._evaluating) < self.config.concurrency:
            committed = self.progress.evaluated + len(self._expanding) + len(self._evaluating)
            if self.config.max_steps > 0 and committed >= self.config.max_steps:
                return
            if self._consecutive_expansion_failures >= 3 * self.config.concurrency + 5:
                return
            parents = self.policy.select(self.graph, 1, list(self._expanding.values()), self.rng)
            if not parents:
                return
            parent = parents[0]
            request = ExpansionRequest(
                parent=parent,
                inspirations=self.policy.inspirations(self.graph, parent, N_INSPIRATIONS, self.rng),
                seen_sources=frozenset(self._seen),
                seed=int(self.rng.integers(2**31)),
            )
            self._expanding[self._expand_pool.submit(self._expand, request)] = parent.id

    def _expand(self, request: ExpansionRequest) -> Expansion:
        try:
            return self.operator.expand(request)
        except Exception as exc:  # boundary: an operator bug must not kill the run
            logger.exception("operator=%s failed on parent=%d", self.operator.name, request.parent.id)
            return Expansion(candidate=None, failure=f"operator raised {type(exc).__name__}: {exc}")

    def _integrate(self, future: Future) -> None:
        if future in self._expanding:
            parent_id = self._expanding.pop(future)
            self._on_expanded(parent_id, future.result())
        else:
            node = self._evaluating.pop(future)
            self._on_evaluated(node, future.result())
        if self.on_event is not None:
            self.on_event(Snapshot(progress=self.progress, max_steps=self.config.max_steps,
                                   in_flight=len(self._expanding) + len(self._evaluating),
                                   best=self.graph.best(), last=None))

    def _on_expanded(self, parent_id: int, expansion: Expansion) -> None:
        self.progress.tokens += expansion.tokens
        self.progress.dollars += expansion.dollars
        if expansion.candidate is None:
            self.progress.expansion_failures += 1
            self._consecutive_expansion_failures += 1
            logger.warning("expansion of parent=%d failed: %s", parent_id, expansion.failure)
            return
        self._consecutive_expansion_failures = 0
        self._submit_evaluation(self._new_node(expansion.candidate))

    def _new_node(self, candidate: Candidate) -> Node:
        node = Node(id=len(self.graph), parent_id=candidate.parent_id, candidate=candidate, created_at=time.time())
        self.archive.add_node(node)
        self.graph.add(node)
        self._seen.add(source_hash(candidate.source))
        return node

    def _submit_evaluation(self, node: Node) -> None:
        self._evaluating[self._eval_pool.submit(self._evaluate, node)] = node

    def _evaluate(self, node: Node) -> EvalResult:
        try:
            return self.judge.evaluate(node.candidate.source, candidate_id=str(node.id))
        except Exception as exc:  # boundary: an evaluator bug becomes a recorded verdict, not a dead run
            logger.exception("evaluator failed on node=%d", node.id)
            return EvalResult(status=EvalStatus.CRASHED, reason=f"evaluator raised {type(exc).__name__}: {exc}")

    def _on_evaluated(self, node: Node, result: EvalResult) -> None:
        node.result = result
        node.state = NodeState.EVALUATED
        self.archive.record_result(node)
        improved = self.progress.observe(node.score, result.ok, self.config.min_improvement)
        self.archive.meta.save_progress(self.archive.run_id, dataclasses.asdict(self.progress))
        logger.info("evaluated node=%d parent=%s status=%s fitness=%.3f%s", node.id, node.parent_id,
                    result.status, node.score, " (new best)" if improved else "")

    def _requeue_pending(self) -> None:
        """Re-submits nodes that were stored but never evaluated (a resumed run's in-flight work)."""
        for node in self.graph.nodes():
            if node.state is NodeState.PENDING:
                logger.info("re-queuing node=%d left pending by an interrupted run", node.id)
                self._submit_evaluation(node)
