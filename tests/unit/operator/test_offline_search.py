"""The offline operator inside the controller: concurrent expansions of one parent propose different sources, and
a tunable change that raised fitness is followed up (deterministic with the run's seed)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from kernelevolve.controller import Controller
from kernelevolve.core.types import Candidate, EvalResult, EvalStatus, Node
from kernelevolve.operator.expansion import ExpansionRequest
from kernelevolve.operator.offline import OfflineOperator, alternative_seeds, read_tunables, source_hash
from kernelevolve.search.config import SearchConfig
from kernelevolve.search.greedy import GreedyPolicy
from kernelevolve.store.archive import Archive

# The synthetic search space is benchmarks/bench_offline_moves.py's (one definition for the test and the benchmark).
_spec = importlib.util.spec_from_file_location("bench_offline_moves",
                                               Path(__file__).resolve().parents[3] / "benchmarks" / "bench_offline_moves.py")
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
SEED, ALT, OPTIMUM = _bench.SEED, _bench.ALT, _bench.OPTIMUM


class TunableJudge:
    """Fitness from the tunables: every step towards OPTIMUM raises it (BLOCK most, then stages, then warps);
    NUM_STAGES 4 does not fit (a compile error); the alternative algorithm is correct but slow."""

    def __init__(self) -> None:
        self.sources: list[str] = []

    def evaluate(self, source: str, *, candidate_id: str) -> EvalResult:
        self.sources.append(source)
        _, v = read_tunables(source)
        if "ROWS" in v:
            return EvalResult(status=EvalStatus.OK, fitness=0.5 + 0.01 * v["ROWS"], platform="fake")
        if v["NUM_STAGES"] == 4:
            return EvalResult(status=EvalStatus.COMPILE_ERROR, reason="out of shared memory", platform="fake")
        fitness = 1 + 0.5 * math.log2(v["BLOCK"] / 16) + 0.4 * (3 - v["NUM_STAGES"]) + 0.2 * math.log2(v["NUM_WARPS"])
        return EvalResult(status=EvalStatus.OK, fitness=fitness, platform="fake")


def _seeds(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "seed.py").write_text(SEED)
    (tmp_path / "seed_alt.py").write_text(ALT)
    return tmp_path / "seed.py"


def _search(tmp_path, *, concurrency, max_steps, seed=18, rewrite_prob=0.0, run="r"):
    path = _seeds(tmp_path)
    operator = OfflineOperator(path, rewrite_prob=rewrite_prob, alternatives=alternative_seeds(path))
    archive = Archive(tmp_path / run, run, task="fake", platform="fake")
    archive.start(config={}, versions={}, host="test")
    judge = TunableJudge()
    controller = Controller(config=SearchConfig(concurrency=concurrency, max_steps=max_steps, stall=0),
                            policy=GreedyPolicy(top_k=3, exploration=0.2), operator=operator, judge=judge,
                            archive=archive, seed=seed)
    return controller.run(), judge


def test_six_concurrent_expansions_of_a_root_judge_six_different_sources(tmp_path):
    outcome, judge = _search(tmp_path, concurrency=6, max_steps=7, rewrite_prob=0.3)
    children = [n for n in outcome.graph.nodes() if n.parent_id == 0]
    assert len(children) == 6, "the first fill expands the only correct node, the root, six times at once"
    assert len({source_hash(s) for s in judge.sources}) == len(judge.sources) == 7, "no source judged twice"
    assert outcome.progress.expansion_failures == 0, "no expansion wasted on a duplicate"
    assert sum(n.candidate.source == ALT for n in children) == 1, "the alternative seed tried exactly once"


def test_the_search_climbs_the_tunables_that_raised_fitness_and_repeats_with_its_seed(tmp_path):
    outcome, judge = _search(tmp_path / "a", concurrency=1, max_steps=16)
    _, best = read_tunables(outcome.best.candidate.source)
    # 9 single steps separate the seed from the optimum; the alternative seed and a few probes cost the rest.
    assert best == OPTIMUM, f"16 verdicts reached {best}"
    again, judge_again = _search(tmp_path / "b", concurrency=1, max_steps=16)
    assert judge_again.sources == judge.sources and again.best.id == outcome.best.id


def _node(source, node_id, parent_id, fitness=None):
    node = Node(id=node_id, parent_id=parent_id, candidate=Candidate(source=source, parent_id=parent_id, origin="t"))
    if fitness is not None:
        node.result = (EvalResult(status=EvalStatus.OK, fitness=fitness, platform="fake") if fitness > 0
                       else EvalResult(status=EvalStatus.COMPILE_ERROR, reason="x", platform="fake"))
    return node


def _with(**changes):
    from kernelevolve.operator.offline import rewrite_tunables

    return rewrite_tunables(SEED, changes)


def test_ranked_moves_climb_then_combine_then_neighbours_with_losing_steps_last(tmp_path):
    path = _seeds(tmp_path)
    op = OfflineOperator(path, alternatives=alternative_seeds(path))
    gp = _node(SEED, 0, None, fitness=1.0)
    parent = _node(_with(NUM_STAGES=2), 1, 0, fitness=1.4)  # stages 3 -> 2 raised fitness
    better = _node(_with(BLOCK=64), 2, 0, fitness=1.5)  # a sibling: BLOCK 32 -> 64 raised it too
    worse = _node(_with(NUM_WARPS=2), 3, 0, fitness=0.8)  # warps 4 -> 2 lowered it
    broken = _node(_with(NUM_STAGES=4), 4, 0, fitness=0.0)  # did not compile
    seen = frozenset(source_hash(n.candidate.source) for n in (gp, parent, better, worse, broken))
    request = ExpansionRequest(parent=parent, inspirations=[], seen_sources=seen, seed=0, ancestors=[gp],
                               relatives=[better, worse, broken])
    moves = [read_tunables(s)[1] for s, _ in op.ranked_moves(request)]
    assert moves[0] == {"BLOCK": 32, "NUM_STAGES": 1, "NUM_WARPS": 4}  # climb: stages one further down
    assert moves[1] == {"BLOCK": 64, "NUM_STAGES": 2, "NUM_WARPS": 4}  # combine: the sibling's better block
    # last: the step that lost fitness beside it, and the way back from the sibling's better block
    assert sorted(tuple(m.values()) for m in moves[-2:]) == [(16, 2, 4), (32, 2, 2)]
    assert len({tuple(m.values()) for m in moves}) == len(moves) and all(source_hash(s) not in seen
                                                                        for s, _ in op.ranked_moves(request))
    # The ranking is a function of the graph alone: each concurrent expansion takes the move of its rank.
    picks = [op.expand(ExpansionRequest(parent=parent, inspirations=[], seen_sources=seen, seed=s, rank=r,
                                        ancestors=[gp], relatives=[better, worse, broken])).candidate.source
             for r, s in enumerate((5, 9, 11, 3))]
    assert [read_tunables(p)[1] for p in picks] == moves[:4]


def test_a_root_ranks_its_untried_alternative_then_stages_and_warps_first(tmp_path):
    path = _seeds(tmp_path)
    op = OfflineOperator(path, alternatives=alternative_seeds(path))
    root = _node(SEED, 0, None, fitness=1.0)
    request = ExpansionRequest(parent=root, inspirations=[], seen_sources=frozenset({source_hash(SEED)}), seed=0)
    notes = [note for _, note in op.ranked_moves(request)]
    assert notes[:5] == ["rewrite: switch algorithm to seed_alt.py", "NUM_STAGES 3->2", "NUM_STAGES 3->4",
                         "NUM_WARPS 4->2", "NUM_WARPS 4->8"]
    assert notes[5:] == ["BLOCK 32->16", "BLOCK 32->64"]


def test_steps_that_raised_fitness_beside_the_lineage_rank_first_among_the_neighbours(tmp_path):
    path = _seeds(tmp_path)
    op = OfflineOperator(path, alternatives=alternative_seeds(path))
    root = _node(SEED, 0, None, fitness=1.0)
    up = _node(_with(NUM_WARPS=8), 1, 0, fitness=1.3)  # warps 4 -> 8 raised fitness at the root
    down = _node(_with(NUM_WARPS=2), 2, 0, fitness=0.7)  # warps 4 -> 2 lowered it
    deep = _node(_with(BLOCK=64), 3, 0, fitness=1.1)
    child = _node(_with(BLOCK=64, NUM_STAGES=2), 4, 3, fitness=1.05)  # the parent: its own step did not help
    seen = frozenset(source_hash(n.candidate.source) for n in (root, up, down, deep, child))

    def notes(relatives):
        request = ExpansionRequest(parent=child, inspirations=[], seen_sources=seen, seed=0, ancestors=[deep, root],
                                   relatives=relatives)
        return [note.split(" (")[0] for _, note in op.ranked_moves(request)]

    ranked = notes([up, down])  # the root's other children: two levels above the parent
    assert ranked[0] == "NUM_WARPS 4->8" and ranked[-1] == "NUM_WARPS 4->2"
    # Without them only the lineage speaks: BLOCK up raised fitness (root -> deep), stages down lowered it (deep ->
    # child); the untried warps steps sit between (stages 2 -> 3 is the grandparent's source: seen).
    assert notes([]) == ["BLOCK 64->128", "NUM_WARPS 4->2", "NUM_WARPS 4->8", "NUM_STAGES 2->1", "BLOCK 64->32"]


def test_a_stopped_and_resumed_search_proposes_what_an_uninterrupted_one_does(tmp_path):
    from kernelevolve.controller import restore_graph

    whole, judge = _search(tmp_path / "whole", concurrency=1, max_steps=14, rewrite_prob=0.3)
    path = _seeds(tmp_path / "parts")

    def controller(archive, max_steps, **state):
        operator = OfflineOperator(path, rewrite_prob=0.3, alternatives=alternative_seeds(path))  # fresh memory
        return Controller(config=SearchConfig(concurrency=1, max_steps=max_steps, stall=0),
                          policy=GreedyPolicy(top_k=3, exploration=0.2), operator=operator, judge=parts,
                          archive=archive, seed=18, **state)

    parts = TunableJudge()
    archive = Archive(tmp_path / "parts" / "run", "run", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="test")
    controller(archive, 6).run()
    graph, progress = restore_graph(archive)
    # A fresh operator (as after a kill) ranks from the request alone: the restored graph gives the same requests.
    controller(archive, 14, graph=graph, progress=progress).run()
    assert parts.sources == judge.sources and len(judge.sources) == 14
