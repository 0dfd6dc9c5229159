"""The in-process controller: budgets, asynchrony, failure handling and the store as the truth."""

from __future__ import annotations

import dataclasses

import pytest

from kernelevolve.controller import Controller
from kernelevolve.core.types import Candidate, EvalStatus, Node, NodeState
from kernelevolve.search.config import SearchConfig
from kernelevolve.search.greedy import GreedyPolicy
from kernelevolve.search.termination import StopReason
from kernelevolve.store.archive import Archive
from tests.fakes import FakeJudge, FakeOperator


def _run(tmp_path, *, concurrency=1, seed=0, operator=None, **search):
    config = SearchConfig(concurrency=concurrency, **search)
    archive = Archive(tmp_path / "run", "r1", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="test")
    judge = FakeJudge()
    controller = Controller(config=config, policy=GreedyPolicy(top_k=2, exploration=0.3),
                            operator=operator or FakeOperator(), judge=judge, archive=archive, seed=seed)
    return controller.run(), archive, judge


def test_stops_at_exactly_max_steps_even_with_concurrency(tmp_path):
    outcome, archive, judge = _run(tmp_path, concurrency=3, max_steps=9, stall=0)
    assert outcome.stop_reason is StopReason.MAX_STEPS
    assert outcome.progress.evaluated == 9
    assert len(judge.evaluated) == len(set(judge.evaluated)) == 9, "every node evaluated exactly once"


def test_every_node_is_in_the_store_with_its_verdict(tmp_path):
    outcome, archive, _ = _run(tmp_path, max_steps=8, stall=0)
    rows = archive.meta.nodes("r1")
    assert [r["id"] for r in rows] == [n.id for n in outcome.graph.nodes()]
    assert all(r["state"] == NodeState.EVALUATED for r in rows)
    for row, node in zip(rows, outcome.graph.nodes(), strict=True):
        assert row["score"] == pytest.approx(node.score)
        assert bool(row["is_buggy"]) == node.is_buggy
        assert (tmp_path / "run" / "objects" / f"kernel_{node.id}.py").read_text() == node.candidate.source
        assert (tmp_path / "run" / "objects" / f"overview_{node.id}.md").is_file()


def test_best_is_the_highest_fitness_correct_node(tmp_path):
    outcome, _, _ = _run(tmp_path, max_steps=15, stall=0)
    correct = [n for n in outcome.graph.nodes() if n.result.status is EvalStatus.OK]
    assert outcome.best is not None
    assert outcome.best.score == max(n.score for n in correct)


def test_stall_stops_a_search_that_no_longer_improves(tmp_path):
    outcome, _, _ = _run(tmp_path, max_steps=200, stall=3, min_improvement=10.0)  # nothing counts as progress
    assert outcome.stop_reason is StopReason.STALL
    assert outcome.progress.evaluated == 4  # the seed is the first best, then 3 without improvement


def test_target_speedup_stops_the_search(tmp_path):
    outcome, _, _ = _run(tmp_path, max_steps=500, stall=0, target_speedup=1.3)
    assert outcome.stop_reason is StopReason.TARGET
    assert outcome.best.score >= 1.3


def test_failed_expansions_are_counted_and_do_not_stop_the_run(tmp_path):
    outcome, _, _ = _run(tmp_path, max_steps=6, stall=0, operator=FakeOperator(fail_every=2))
    assert outcome.progress.evaluated == 6
    assert outcome.progress.expansion_failures >= 4


def test_tokens_and_dollars_are_budgets(tmp_path):
    outcome, _, _ = _run(tmp_path, max_steps=100, stall=0, max_tokens=45)
    assert outcome.stop_reason is StopReason.TOKENS
    assert outcome.progress.tokens >= 45


def test_same_seed_gives_the_same_trace(tmp_path):
    a, _, _ = _run(tmp_path / "a", max_steps=10, stall=0, seed=7)
    b, _, _ = _run(tmp_path / "b", max_steps=10, stall=0, seed=7)
    trace = lambda o: [(n.id, n.parent_id, n.candidate.source) for n in o.graph.nodes()]  # noqa: E731
    assert trace(a) == trace(b)


def test_a_judge_that_raises_becomes_a_crashed_node(tmp_path):
    class BrokenJudge(FakeJudge):
        def evaluate(self, source, *, candidate_id):
            if candidate_id == "1":
                raise RuntimeError("worker pool exploded")
            return super().evaluate(source, candidate_id=candidate_id)

    config = SearchConfig(concurrency=1, max_steps=4, stall=0)
    archive = Archive(tmp_path / "run", "r1", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="test")
    outcome = Controller(config=config, policy=GreedyPolicy(), operator=FakeOperator(), judge=BrokenJudge(),
                         archive=archive, seed=0).run()
    node = outcome.graph.get(1)
    assert node.result.status is EvalStatus.CRASHED and "worker pool exploded" in node.result.reason
    assert outcome.progress.evaluated == 4


def test_progress_counters_are_persisted_with_the_run(tmp_path):
    outcome, archive, _ = _run(tmp_path, max_steps=5, stall=0)
    import json

    stored = json.loads(archive.meta.get_run("r1")["progress_json"])
    assert stored["evaluated"] == 5 == dataclasses.asdict(outcome.progress)["evaluated"]


def test_llm_calls_of_each_expansion_are_recorded_with_their_node(tmp_path):
    outcome, archive, _ = _run(tmp_path, max_steps=4, stall=0)
    calls = archive.meta.llm_calls("r1")
    assert [c["node_id"] for c in calls] == [1, 2, 3]
    assert all(c["tokens_in"] == 10 and c["tokens_out"] == 5 for c in calls)
    assert outcome.progress.tokens == 45


def test_restore_graph_rebuilds_the_live_graph(tmp_path):
    from kernelevolve.controller import restore_graph

    outcome, archive, _ = _run(tmp_path, concurrency=3, max_steps=12, stall=0)
    graph, progress = restore_graph(archive)
    live = outcome.graph
    assert [(n.id, n.parent_id, n.candidate, n.result) for n in graph.nodes()] == \
        [(n.id, n.parent_id, n.candidate, n.result) for n in live.nodes()]
    assert [graph.stats(i) for i in range(len(graph))] == [live.stats(i) for i in range(len(live))]
    assert graph.eval_order() == live.eval_order() and graph.next_step == live.next_step
    assert progress.evaluated == outcome.progress.evaluated and progress.tokens == outcome.progress.tokens


def test_a_resumed_concurrent_run_loses_nothing_and_evaluates_nothing_twice(tmp_path):
    from kernelevolve.controller import restore_graph

    config = SearchConfig(concurrency=3, max_steps=10, stall=0)
    archive = Archive(tmp_path / "run", "r1", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="test")
    root = Node(id=0, parent_id=None, candidate=FakeOperator().seed())
    archive.add_roots([root])
    archive.record_evaluation(root, FakeJudge().evaluate(root.candidate.source, candidate_id="0"), seq=0,
                              progress={"evaluated": 1, "best_fitness": 1.0})
    for step in range(3):  # three expansions were in flight when the process died
        archive.begin_expansion(step=step, parent_id=0, seed=100 + step, inspirations=[])
    graph, progress = restore_graph(archive)
    judge = FakeJudge()
    outcome = Controller(config=config, policy=GreedyPolicy(), operator=FakeOperator(), judge=judge,
                         archive=archive, seed=0, graph=graph, progress=progress).run()
    steps = archive.meta.expansions("r1")
    assert [s["seed"] for s in steps[:3]] == [100, 101, 102] and all(s["status"] == "done" for s in steps)
    assert "0" not in judge.evaluated and len(judge.evaluated) == len(set(judge.evaluated)) == 9
    assert outcome.progress.evaluated == 10 and len(outcome.graph) == 10


def test_warm_start_seeds_become_extra_roots(tmp_path):
    seeds = [Candidate(source="x = 30\n", parent_id=None, origin="warm:a/3"),
             Candidate(source="x = 10\n", parent_id=None, origin="warm:a/0")]  # a duplicate of the seed
    config = SearchConfig(concurrency=1, max_steps=5, stall=0)
    archive = Archive(tmp_path / "run", "r1", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="test")
    outcome = Controller(config=config, policy=GreedyPolicy(exploration=0.0), operator=FakeOperator(),
                         judge=FakeJudge(), archive=archive, seed=0, seeds=seeds).run()
    roots = outcome.graph.roots()
    assert [r.candidate.source for r in roots] == ["x = 10\n", "x = 30\n"]
    lineage = [outcome.best, *outcome.graph.ancestors(outcome.best.id)]
    assert lineage[-1].id == roots[1].id, "the search builds on the (better) warm-start root"


def test_an_observing_operator_is_shown_every_verdict(tmp_path):
    class ObservingOperator(FakeOperator):
        def __init__(self):
            super().__init__()
            self.observed = []

        def observe(self, node):
            assert node.result is not None, "only evaluated nodes are shown"
            self.observed.append(node.id)

    operator = ObservingOperator()
    outcome, _, _ = _run(tmp_path, max_steps=6, stall=0, operator=operator)
    assert sorted(operator.observed) == [n.id for n in outcome.graph.nodes()]


def test_a_wall_clock_stop_starts_no_new_evaluation(tmp_path):
    import time as _time

    class SlowJudge(FakeJudge):
        def evaluate(self, source, *, candidate_id):
            _time.sleep(0.3)
            return super().evaluate(source, candidate_id=candidate_id)

    config = SearchConfig(concurrency=4, max_steps=100, stall=0, max_wall_s=1.0)
    archive = Archive(tmp_path / "run", "r1", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="test")
    judge = SlowJudge()
    outcome = Controller(config=config, policy=GreedyPolicy(), operator=FakeOperator(), judge=judge,
                         archive=archive, seed=0).run()
    assert outcome.stop_reason is StopReason.WALL_CLOCK
    pending = [n for n in outcome.graph.nodes() if n.state is NodeState.PENDING]
    assert pending, "queued evaluations were cancelled, not run past the budget"
    assert len(judge.evaluated) == outcome.progress.evaluated, "no evaluation ran that was not counted"
    assert {r["id"] for r in archive.meta.nodes("r1") if r["state"] == "pending"} == {n.id for n in pending}


class _EchoOperator(FakeOperator):
    """Proposes the same child source for every expansion of a parent (as expansions in flight together can)."""

    def expand(self, request):  # noqa: ANN001, ANN201
        from kernelevolve.operator.expansion import Expansion

        value = int(request.parent.candidate.source.splitlines()[0].split("=")[1])
        return Expansion(candidate=Candidate(source=f"x = {value + 1}\n", parent_id=request.parent.id,
                                             origin=self.name, note="+1"))


def test_a_duplicate_source_is_a_failed_expansion_and_is_not_judged_again(tmp_path):
    import sqlite3

    outcome, archive, judge = _run(tmp_path, concurrency=4, operator=_EchoOperator(), max_steps=6, stall=0)
    sources = [n.candidate.source for n in outcome.graph.nodes()]
    assert len(sources) == len(set(sources)), "no source was admitted twice"
    assert len(judge.evaluated) == len(set(judge.evaluated)) == len(sources)
    assert outcome.progress.expansion_failures > 0  # concurrent expansions of one parent proposed one source
    with sqlite3.connect(tmp_path / "run" / "meta.db") as db:
        failures = [r[0] for r in db.execute("SELECT failure FROM expansions WHERE failure IS NOT NULL")]
    assert len(failures) == outcome.progress.expansion_failures and all("duplicate" in f for f in failures)


class _LowestUnseenOperator:
    """Proposes `x = <parent's x><k>` for the lowest k >= 1 not in the search yet, at no LLM cost (as the offline
    operator does): concurrent expansions of one parent see the same sources, so they all propose one (and
    expansions of different parents never collide)."""

    name = "lowest"

    def __init__(self, llm_calls=()):
        self.llm_calls = list(llm_calls)
        self.requests = []

    def seed(self):
        return Candidate(source="x = 10\n", parent_id=None, origin="seed")

    def expand(self, request):  # noqa: ANN001, ANN201
        from kernelevolve.operator.expansion import Expansion
        from kernelevolve.operator.offline import source_hash

        self.requests.append(request)
        parent = int(request.parent.candidate.source.splitlines()[0].split("=")[1])
        k = 1
        while source_hash(f"x = {parent}{k}\n") in request.seen_sources:
            k += 1
        value = f"{parent}{k}"
        return Expansion(candidate=Candidate(source=f"x = {value}\n", parent_id=request.parent.id, origin=self.name),
                         llm_calls=self.llm_calls)


def test_a_free_duplicate_is_asked_again_with_the_sources_known_now(tmp_path):
    operator = _LowestUnseenOperator()
    outcome, archive, judge = _run(tmp_path, concurrency=4, operator=operator, max_steps=9, stall=0)
    sources = [n.candidate.source for n in outcome.graph.nodes()]
    assert len(sources) == len(set(sources)) == 9 and len(judge.evaluated) == len(set(judge.evaluated)) == 9
    assert outcome.progress.expansion_failures == 0  # every step ended in a new node, none wasted
    steps = archive.meta.expansions("r1")
    assert [s["status"] for s in steps] == ["done"] * 8 and sorted(s["child_id"] for s in steps) == list(range(1, 9))
    retried = [r for r in operator.requests if r.seed not in {s["seed"] for s in steps}]
    assert retried, "concurrent expansions of the root proposed one source: some were asked again"
    assert all(r.seen_sources for r in retried)


def test_a_duplicate_that_cost_llm_calls_is_not_asked_again(tmp_path):
    calls = [{"tokens_in": 10, "tokens_out": 5, "cost_usd": 0.001}]
    operator = _LowestUnseenOperator(llm_calls=calls)
    outcome, archive, _ = _run(tmp_path, concurrency=4, operator=operator, max_steps=6, stall=0)
    steps = archive.meta.expansions("r1")
    assert len(operator.requests) == len(steps), "one operator call per step: a paid answer is never re-asked"
    assert outcome.progress.expansion_failures == sum(s["status"] == "failed" for s in steps) > 0
    assert outcome.progress.tokens == 15 * len(steps)


def test_concurrent_expansions_of_one_parent_get_ranks_and_its_relatives(tmp_path):
    operator = _LowestUnseenOperator()
    outcome, _, _ = _run(tmp_path, concurrency=4, operator=operator, max_steps=12, stall=0)
    first = operator.requests[:4]  # the pipeline's first fill: four expansions of the root at once
    assert [r.parent.id for r in first] == [0] * 4 and [r.rank for r in first] == [0, 1, 2, 3]
    assert all(r.grandparent is None and r.parent_siblings == [] for r in first)
    deeper = [r for r in operator.requests if r.parent.parent_id is not None]
    assert deeper, "the search expanded a child of the root"
    for r in deeper:
        assert r.grandparent.id == r.parent.parent_id
        assert all(s.parent_id == r.parent.parent_id and s.id != r.parent.id and s.result is not None
                   for s in r.parent_siblings)
