"""The Ray-free search controller: keeps `concurrency` expansions in flight and integrates results as they
arrive (no generation barrier); evaluations run on `eval_slots` threads, one per exclusive device.

Reproducibility and resume. Expansion step s draws everything (parent, inspirations, the operator's
seed) from a generator derived from (run seed, s) (search/rng.py), and is committed to the store
before the operator is called. Every event (new node + its step, verdict + counters) is one store
transaction, written before the in-memory graph changes, so the store is always a consistent prefix
of the run. A run killed at any moment (kill -9 included) and resumed with `restore_graph`:
- never re-evaluates a node whose verdict was committed;
- re-issues the expansion steps that were in flight with their recorded parent, inspirations and
  seed, and re-evaluates the nodes left pending;
- continues the budgets (steps, tokens, dollars, stall, wall clock) from the stored counters.
With concurrency=1 (and eval_slots=1) events happen in one order, so a resumed run's graph, best
node and trace are identical to an uninterrupted run's with the same seed and a deterministic
operator and judge. With concurrency>1 the arrival order of results depends on timing: every step
is still reproducible given the graph it saw, no node is lost or evaluated twice, but the graph may
differ from another run's (as two uninterrupted concurrent runs may differ from each other).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from kernelevolve.core.types import DUPLICATE_PREFIX, Candidate, EvalResult, EvalStatus, Node, NodeState
from kernelevolve.eval.protocols import Judge, Prefetching, Withdrawing, Withdrawn
from kernelevolve.operator.expansion import Expansion, ExpansionRequest
from kernelevolve.operator.offline import source_hash
from kernelevolve.operator.protocols import NodeObserver, Operator
from kernelevolve.search.config import SearchConfig
from kernelevolve.search.graph import Graph
from kernelevolve.search.protocols import Policy
from kernelevolve.search.rng import step_rng
from kernelevolve.search.termination import Progress, StopReason, check_termination
from kernelevolve.seeds.protocols import RootOutcome, RootSource
from kernelevolve.store.archive import Archive
from kernelevolve.store.protocols import ArchiveWriter

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Snapshot:
    """What a progress display shows after each event."""

    progress: Progress
    max_steps: int
    in_flight: int
    best: Node | None
    last: Node | None
    bottleneck: str = ""  # what the driver found limiting the run, for the live status ("" = nothing to say)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outcome:
    """How a search ended."""

    stop_reason: StopReason
    best: Node | None
    progress: Progress
    graph: Graph


MAX_ANCESTORS = 16  # an expansion request carries at most this many of the parent's ancestors
MAX_RELATIVES = 96  # ... and this many evaluated children beside its lineage (the parent's own first)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Step:
    """An expansion in flight: its step number, parent, the request it was sent and how often it was re-asked."""

    step: int
    parent_id: int
    request: ExpansionRequest | None = None
    retries: int = 0


class Controller:
    """Runs one search over one task with an injected policy, operator, judge and archive.

    `seeds` are extra root candidates (a warm start) planted with the operator's seed in a new run.
    """

    def __init__(self, *, config: SearchConfig, policy: Policy, operator: Operator, judge: Judge,
                 archive: ArchiveWriter, seed: int, on_event: Callable[[Snapshot], None] | None = None,
                 graph: Graph | None = None, progress: Progress | None = None, eval_slots: int = 1,
                 seeds: Sequence[Candidate] = ()) -> None:
        self.config = config
        self.policy = policy
        self.operator = operator
        self.judge = judge
        self.archive = archive
        self.seed = seed
        self.on_event = on_event
        self.eval_slots = eval_slots  # evaluations run at once: one per exclusive device
        self.graph = graph if graph is not None else Graph()
        self.progress = progress if progress is not None else Progress()
        self.seeds = list(seeds)
        self._elapsed_before = self.progress.elapsed_s
        self._start = time.monotonic()
        self._seen = {source_hash(n.candidate.source) for n in self.graph.nodes()}
        self._expanding: dict[Future[Expansion], _Step] = {}
        self._evaluating: dict[Future[EvalResult], Node] = {}
        self._consecutive_expansion_failures = 0
        self._evaluate_admitted = True  # False once a wall-clock stop forbids starting evaluations
        self._draining = False  # True once the run stopped: finish what is in flight, start nothing new

    def run(self) -> Outcome:
        """Searches until a termination condition holds; returns the stop reason and the best node."""
        self._start = time.monotonic()
        with ThreadPoolExecutor(max(1, self.config.concurrency), thread_name_prefix="expand") as expand_pool, \
                ThreadPoolExecutor(self.eval_slots, thread_name_prefix="evaluate") as eval_pool:
            self._expand_pool, self._eval_pool = expand_pool, eval_pool
            self._resume_in_flight()
            if len(self.graph) == 0:
                self._plant_roots()
            try:
                reason = self._loop()
                self._drain(reason)
            except BaseException:  # Ctrl-C or SIGTERM: the pools' exit then waits only for candidates on a judge
                if isinstance(self.judge, Withdrawing):
                    self.judge.withdraw_waiting()
                raise
        self._tick()
        return Outcome(stop_reason=reason, best=self.graph.best(), progress=self.progress, graph=self.graph)

    def _tick(self) -> None:
        self.progress.elapsed_s = self._elapsed_before + time.monotonic() - self._start

    def _loop(self) -> StopReason:
        """Fills the pipeline and integrates results until a termination condition holds."""
        self._tick()
        while (reason := check_termination(self.config, self.progress)) is None:
            self._fill()
            if not self._expanding and not self._evaluating:
                return StopReason.EXHAUSTED
            left = self.config.max_wall_s - self.progress.elapsed_s
            done, _ = wait([*self._expanding, *self._evaluating], return_when=FIRST_COMPLETED,
                           timeout=None if self.config.max_wall_s <= 0 else max(0.1, left))
            for future in done:
                self._integrate(future)
            self._tick()
        return reason

    def _drain(self, reason: StopReason) -> None:
        """Finishes work already started so nothing in flight is lost; starts nothing new.

        After a wall-clock stop, evaluations not yet started are cancelled, those still waiting for their
        compile are given back by the judge (Withdrawing), and candidates that arrive are stored as pending
        nodes without being evaluated, so the budget overruns by at most the verdicts already on a judge;
        `run.resume` with a larger budget evaluates the pending ones.
        """
        self._draining = True
        for future, item in list(self._expanding.items()):
            if future.cancel():
                del self._expanding[future]
                self.archive.cancel_expansion(item.step)
        if reason is StopReason.WALL_CLOCK:
            self._evaluate_admitted = False
            for future in [f for f in self._evaluating if f.cancel()]:
                logger.info("wall clock: node=%d left pending for a resume", self._evaluating.pop(future).id)
            if isinstance(self.judge, Withdrawing):  # and those still waiting for their compile, not on a judge
                self.judge.withdraw_waiting()
        while self._expanding or self._evaluating:
            done, _ = wait([*self._expanding, *self._evaluating], return_when=FIRST_COMPLETED)
            for future in done:
                self._integrate(future)
        self._tick()

    def _fill(self) -> None:
        """Starts expansions until `concurrency` items are in flight or the step budget is committed."""
        while len(self._expanding) + len(self._evaluating) < self.config.concurrency:
            committed = self.progress.evaluated + len(self._expanding) + len(self._evaluating)
            if self.config.max_steps > 0 and committed >= self.config.max_steps:
                return
            if self._consecutive_expansion_failures >= 3 * self.config.concurrency + 5:
                return
            if not self._start_step(self.graph.next_step):
                return

    def _start_step(self, step: int) -> bool:
        """Selects a parent for expansion step `step`, commits the step, and submits it; False if none."""
        rng = step_rng(self.seed, step)
        parents = self.policy.select(self.graph, 1, [s.parent_id for s in self._expanding.values()], rng)
        if not parents:
            return False
        parent = parents[0]
        inspirations = self.policy.inspirations(self.graph, parent, self.config.inspirations, rng)
        request = self._request(parent, inspirations, seed=int(rng.integers(2**31)))
        self.archive.begin_expansion(step=step, parent_id=parent.id, seed=request.seed,
                                     inspirations=[n.id for n in inspirations])
        self.graph.next_step = step + 1
        self._submit_expansion(_Step(step=step, parent_id=parent.id), request)
        return True

    def _request(self, parent: Node, inspirations: list[Node], *, seed: int) -> ExpansionRequest:
        """Returns the request for one expansion of `parent`: the sources in the search, its rank among the
        expansions of that parent in flight, its ancestors and the evaluated children beside its lineage."""
        rank = sum(1 for s in self._expanding.values() if s.parent_id == parent.id)
        ancestors = self.graph.ancestors(parent.id)[:MAX_ANCESTORS]
        path = {parent.id, *(a.id for a in ancestors)}
        relatives = [n for a in (parent, *ancestors) for n in self.graph.children(a.id)
                     if n.id not in path and n.state is NodeState.EVALUATED][:MAX_RELATIVES]
        return ExpansionRequest(parent=parent, inspirations=inspirations, seen_sources=frozenset(self._seen),
                                seed=seed, rank=rank, ancestors=ancestors, relatives=relatives)

    def _submit_expansion(self, item: _Step, request: ExpansionRequest) -> None:
        item = dataclasses.replace(item, request=request)
        self._expanding[self._expand_pool.submit(self._expand, request)] = item

    def _expand(self, request: ExpansionRequest) -> Expansion:
        try:
            return self.operator.expand(request)
        except Exception as exc:  # boundary: an operator bug must not kill the run
            logger.exception("operator=%s failed on parent=%d", self.operator.name, request.parent.id)
            return Expansion(candidate=None, failure=f"operator raised {type(exc).__name__}: {exc}")

    def _integrate(self, future: Future[Any]) -> None:
        last = None
        if future in self._expanding:
            self._on_expanded(self._expanding.pop(future), future.result())
        else:
            last = self._evaluating.pop(future)
            result = future.result()
            if result is None:
                logger.info("wall clock: node=%d given back before a judge took it, left pending for a resume",
                            last.id)
                return
            self._on_evaluated(last, result)
        if self.on_event is not None:
            self.on_event(Snapshot(progress=self.progress, max_steps=self.config.max_steps,
                                   in_flight=len(self._expanding) + len(self._evaluating),
                                   best=self.graph.best(), last=last))

    def _on_expanded(self, item: _Step, expansion: Expansion) -> None:
        self.progress.tokens += expansion.tokens
        self.progress.dollars += expansion.dollars
        self._tick()
        candidate = expansion.candidate
        if candidate is None:
            self.progress.expansion_failures += 1
            self._consecutive_expansion_failures += 1
            logger.warning("expansion step=%d of parent=%d failed: %s", item.step, item.parent_id, expansion.failure)
            self.archive.finish_expansion(step=item.step, node=None, failure=expansion.failure or "no candidate",
                                          llm_calls=expansion.llm_calls, progress=dataclasses.asdict(self.progress))
            return
        if source_hash(candidate.source) in self._seen:  # expansions in flight together saw the same graph
            if (not expansion.llm_calls and item.request is not None and item.retries < self.config.concurrency
                    and not self._draining):
                # Costs nothing: the same step, asked with the sources known now. Up to `concurrency` times, enough for
                # an operator that ignores its rank when every expansion in flight proposed the same source.
                self._ask_again(item)
                return
            self.progress.expansion_failures += 1
            failure = f"{DUPLICATE_PREFIX} the operator proposed a source already in the search (not judged again)"
            logger.info("expansion step=%d of parent=%d: %s", item.step, item.parent_id, failure)
            self.archive.finish_expansion(step=item.step, node=None, failure=failure, llm_calls=expansion.llm_calls,
                                          progress=dataclasses.asdict(self.progress))
            return
        self._consecutive_expansion_failures = 0
        if candidate.parent_id != item.parent_id:
            logger.warning("operator named parent=%s for step=%d of parent=%d; keeping the step's parent",
                           candidate.parent_id, item.step, item.parent_id)
            candidate = dataclasses.replace(candidate, parent_id=item.parent_id)
        node = Node(id=len(self.graph), parent_id=item.parent_id, candidate=candidate, created_at=time.time())
        self.archive.finish_expansion(step=item.step, node=node, failure=None, llm_calls=expansion.llm_calls,
                                      progress=dataclasses.asdict(self.progress))
        self._admit(node, step=item.step)

    def _ask_again(self, item: _Step) -> None:
        """Re-issues an expansion step whose answer duplicated a source admitted meanwhile, with the seen sources,
        rank and relatives of now and a seed derived from the step's (an expander's ledger keys answers by seed).
        The step stays open in the store, so a kill meanwhile re-issues it on resume like any open step."""
        assert item.request is not None
        old = item.request
        parent = self.graph.get(item.parent_id)
        request = self._request(parent, old.inspirations, seed=int(step_rng(old.seed, item.retries + 1).integers(2**31)))
        logger.info("expansion step=%d of parent=%d proposed a source already in the search; asking again",
                    item.step, item.parent_id)
        self._submit_expansion(dataclasses.replace(item, retries=item.retries + 1), request)

    def _admit(self, node: Node, *, step: int | None) -> None:
        """Adds a committed node to the graph and queues its evaluation."""
        self.graph.add(node, step=step)
        self._seen.add(source_hash(node.candidate.source))
        if self._evaluate_admitted:
            self._queue_evaluation(node)

    def _queue_evaluation(self, node: Node) -> None:
        """Queues a node's evaluation, letting a prefetching judge start compiling it meanwhile."""
        if isinstance(self.judge, Prefetching):
            self.judge.prefetch(node.candidate.source, candidate_id=str(node.id))
        self._evaluating[self._eval_pool.submit(self._evaluate, node)] = node

    def _evaluate(self, node: Node) -> EvalResult | None:
        """Returns the node's verdict, or None when the judge gave it back unjudged (it stays pending)."""
        try:
            return self.judge.evaluate(node.candidate.source, candidate_id=str(node.id))
        except Withdrawn:
            return None
        except Exception as exc:  # boundary: an evaluator bug becomes a recorded verdict, not a dead run
            logger.exception("evaluator failed on node=%d", node.id)
            return EvalResult(status=EvalStatus.CRASHED, reason=f"evaluator raised {type(exc).__name__}: {exc}")

    def _on_evaluated(self, node: Node, result: EvalResult) -> None:
        score = result.fitness if result.ok else 0.0
        improved = self.progress.observe(score, result.ok, self.config.min_improvement)
        self._tick()
        self.archive.record_evaluation(node, result, seq=self.graph.n_evaluated,
                                       progress=dataclasses.asdict(self.progress))
        self.graph.record(node.id, result)
        self._tell_operator(self.graph.get(node.id))
        logger.info("evaluated node=%d parent=%s status=%s fitness=%.3f%s", node.id, node.parent_id,
                    result.status, score, " (new best)" if improved else "")

    def _tell_operator(self, node: Node) -> None:
        """Shows an evaluated node to an operator that learns from verdicts (sibling failures, bandits)."""
        if isinstance(self.operator, NodeObserver):
            self.operator.observe(node)

    def _root(self) -> RootOutcome:
        """Returns the operator's root: from the seed chain (with a draft's LLM calls), or its plain seed."""
        if isinstance(self.operator, RootSource):
            return self.operator.root_outcome()
        return RootOutcome(candidate=self.operator.seed())

    def _plant_roots(self) -> None:
        """Commits the operator's seed and any warm-start seeds as roots, in one transaction.

        A drafted root's LLM calls are stored with it and charged to the budget; a failed draft is a failed
        node with its reason (never judged), which an LLM operator can expand like any buggy node.
        """
        root = self._root()
        roots: list[Node] = []
        seen: set[str] = set()
        for candidate in [root.candidate, *self.seeds]:
            digest = source_hash(candidate.source)
            if digest not in seen:
                seen.add(digest)
                roots.append(Node(id=len(roots), parent_id=None, created_at=time.time(),
                                  candidate=dataclasses.replace(candidate, parent_id=None)))
        self.archive.add_roots(roots)
        if root.llm_calls:
            spent = Expansion(candidate=None, llm_calls=root.llm_calls)
            self.progress.tokens += spent.tokens
            self.progress.dollars += spent.dollars
            self.archive.record_llm_calls(roots[0].id, root.llm_calls)
        for node in roots:
            if node.id == roots[0].id and root.failure is not None:
                self.graph.add(node, step=None)
                self._seen.add(source_hash(node.candidate.source))
                self._on_evaluated(node, EvalResult(status=EvalStatus.COMPILE_ERROR, reason=root.failure))
            else:
                self._admit(node, step=None)

    def _resume_in_flight(self) -> None:
        """Re-queues what an interrupted run had in flight: pending nodes, then open expansion steps."""
        for node in self.graph.nodes():
            if node.state is NodeState.EVALUATED:
                self._tell_operator(node)
        for node in self.graph.nodes():
            if node.state is NodeState.PENDING:
                logger.info("re-queuing evaluation of node=%d left pending by an interrupted run", node.id)
                self._queue_evaluation(node)
        for row in self.archive.open_expansions():
            logger.info("re-issuing expansion step=%d of parent=%d", row["step"], row["parent_id"])
            request = self._request(self.graph.get(row["parent_id"]), [self.graph.get(i) for i in row["inspirations"]],
                                    seed=int(row["seed"]))
            self._submit_expansion(_Step(step=row["step"], parent_id=row["parent_id"]), request)
        self._consecutive_expansion_failures = self.archive.trailing_expansion_failures()


def restore_graph(archive: Archive) -> tuple[Graph, Progress]:
    """Returns the graph and budget counters stored for a run: nodes by id, verdicts replayed in arrival
    order (so stats and the ranking match the live run's), and the next expansion step."""
    graph = Graph()
    verdicts: list[tuple[int, int, EvalResult]] = []
    for node, step, seq in archive.load_nodes():
        if node.state is NodeState.EVALUATED and node.result is not None:
            verdicts.append((seq if seq is not None else node.id, node.id, node.result))
            node.state, node.result = NodeState.PENDING, None
        graph.add(node, step=step)
    for _, node_id, result in sorted(verdicts, key=lambda v: v[:2]):
        graph.record(node_id, result)
    graph.next_step = archive.next_step()
    return graph, Progress(**archive.progress())
