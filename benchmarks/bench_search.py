"""Selection and lineage-query cost on a 10,000-node graph (issue 6: < 5 ms per selection step,
< 50 ms per lineage query). CPU only; no GPU, LLM or network needed.

    python3 benchmarks/bench_search.py [--nodes 10000] [--steps 200]

Prints a table; writes the numbers as JSON to $OUT/bench_search.json when OUT is set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from kernelevolve.core.types import Candidate, EvalResult, EvalStatus, Node
from kernelevolve.search.config import SearchConfig
from kernelevolve.search.evolutionary import EvolutionaryPolicy
from kernelevolve.search.graph import Graph
from kernelevolve.search.greedy import GreedyPolicy
from kernelevolve.search.mcts import MctsPolicy
from kernelevolve.search.rng import step_rng
from kernelevolve.store.sqlite import SqliteMetadataStore


def _grow(graph: Graph, rng: np.random.Generator) -> Node:
    """Adds one evaluated node: half the time under the best node (deep lineages), else anywhere."""
    n = len(graph)
    best = graph.best()
    parent = best if (best is not None and rng.random() < 0.5) else graph.get(int(rng.integers(n)))
    fitness = max(0.0, parent.score + float(rng.normal(0.01, 0.1)))
    node = Node(id=n, parent_id=parent.id, candidate=Candidate(source=f"k{n}", parent_id=parent.id, origin="b"))
    graph.add(node, step=graph.next_step)
    graph.next_step += 1
    ok = fitness > 0 and rng.random() > 0.2
    graph.record(n, EvalResult(status=EvalStatus.OK, fitness=fitness) if ok else EvalResult(status=EvalStatus.CRASHED))
    return node


def build_graph(n_nodes: int, seed: int = 0) -> Graph:
    """Returns a random search graph of n_nodes with ~20% buggy nodes."""
    rng = np.random.default_rng(seed)
    graph = Graph()
    graph.add(Node(id=0, parent_id=None, candidate=Candidate(source="k0", parent_id=None, origin="b")))
    graph.record(0, EvalResult(status=EvalStatus.OK, fitness=1.0))
    while len(graph) < n_nodes:
        _grow(graph, rng)
    return graph


def time_selection(graph: Graph, policy, steps: int) -> list[float]:
    """Returns ms per select(k=1) with 4 expansions in flight; a verdict arrives between steps."""
    rng = np.random.default_rng(1)
    out = []
    policy.select(graph, 1, [], step_rng(0, 0))  # warm the evolutionary memo once, as a live run has
    for _ in range(steps):
        in_flight = [graph.ranked_at(i % graph.n_correct).id for i in range(4)]
        t0 = time.perf_counter()
        parents = policy.select(graph, 1, in_flight, step_rng(0, graph.next_step))
        policy.inspirations(graph, parents[0], 2, step_rng(0, graph.next_step))
        out.append((time.perf_counter() - t0) * 1e3)
        _grow(graph, rng)
    return out


def store_graph(graph: Graph, path: Path) -> SqliteMetadataStore:
    """Writes the graph's nodes to a metadata DB in one transaction and returns the store."""
    meta = SqliteMetadataStore(path)
    meta.create_run(run_id="b", task="bench", platform="cpu", config={}, versions={}, host="bench")
    with meta.transaction() as db:
        db.executemany(
            "INSERT INTO nodes (run_id, id, parent_id, task, platform, state, status, score, is_buggy, origin, note,"
            " created_at) VALUES ('b', ?, ?, 'bench', 'cpu', 'evaluated', ?, ?, ?, 'b', '', 0)",
            [(n.id, n.parent_id, str(n.result.status), n.score, int(n.is_buggy)) for n in graph.nodes()])
    return meta


def time_query(fn, repeats: int = 20) -> float:
    """Returns the median ms of fn()."""
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    results: dict[str, float | int | str] = {"nodes": args.nodes, "python": platform.python_version()}
    config = SearchConfig()
    policies = {"greedy": GreedyPolicy(), "mcts": MctsPolicy(config.mcts),
                "evolutionary": EvolutionaryPolicy(config.evolutionary)}
    print(f"{'what':44} {'median ms':>10} {'p95 ms':>10} {'max ms':>10}")
    for name, policy in policies.items():
        ms = time_selection(build_graph(args.nodes), policy, args.steps)
        p50, p95 = float(np.median(ms)), float(np.percentile(ms, 95))
        results[f"select_{name}_median_ms"], results[f"select_{name}_p95_ms"] = p50, p95
        print(f"{'select+inspirations ' + name:44} {p50:10.3f} {p95:10.3f} {max(ms):10.3f}")
    graph = build_graph(args.nodes)
    deepest = max(graph.nodes(), key=lambda n: len(graph.ancestors(n.id)))
    depth = len(graph.ancestors(deepest.id))
    results["max_depth"] = depth
    with tempfile.TemporaryDirectory() as tmp:
        meta = store_graph(graph, Path(tmp) / "meta.db")
        queries = {
            f"sql ancestors (depth {depth})": lambda: meta.ancestors("b", deepest.id),
            f"sql subtree of the root ({args.nodes} rows)": lambda: meta.subtree("b", 0),
            "sql best path": lambda: meta.best_path("b"),
            "in-memory ancestors (graph)": lambda: graph.ancestors(deepest.id),
        }
        for label, fn in queries.items():
            ms = time_query(fn)
            results[label] = ms
            print(f"{label:44} {ms:10.3f} {'':>10} {'':>10}")
        meta.close()
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "bench_search.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
