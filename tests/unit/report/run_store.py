"""A small stored run written through the real Archive, for the report and sweep tests.

Tree: 0 (seed, 1.0) -> 1 (2.0) -> 3 (3.0, best); 0 -> 2 (crashed); 1 -> 4 (pending). Verdicts carry
`phase.*` seconds (two phases, one only on some verdicts), `eval_seconds` and per-shape timings with a
roofline share; two LLM models are called.
"""

from __future__ import annotations

import json
from pathlib import Path

from kernelevolve.core.types import Candidate, EvalResult, EvalStatus, Node, ShapeTiming
from kernelevolve.store.archive import Archive

SEED = "import triton\n\ndef seed():\n    return 1\n"
BEST = "import triton\n\ndef seed():\n    return 3  # unrolled\n"
SOURCES = {0: SEED, 1: "import triton\n\ndef seed():\n    return 2\n", 2: "crash()\n", 3: BEST, 4: "pending\n"}
EDGES = [(1, 0, "llm-a"), (2, 0, "llm-b"), (3, 1, "llm-a"), (4, 1, "llm-b")]


def node(i: int, parent: int | None) -> Node:
    return Node(id=i, parent_id=parent, candidate=Candidate(source=SOURCES[i], parent_id=parent,
                                                            origin="seed" if parent is None else "llm", note=f"change {i}"))


def _ok(fitness: float, phases: dict[str, float]) -> EvalResult:
    timings = [ShapeTiming(shape="small", candidate_ms=2.0 / fitness, candidate_iqr_ms=0.01, baseline_ms=2.0,
                           baseline_name="compile"),
               ShapeTiming(shape="large", candidate_ms=40.0 / fitness, candidate_iqr_ms=0.2, baseline_ms=40.0,
                           baseline_name="compile")]
    metrics = {"eval_seconds": 2.0, "bandwidth_fraction.large": 0.5, **phases}
    return EvalResult(status=EvalStatus.OK, fitness=fitness, timings=timings, metrics=metrics, platform="cuda")


def make_run(root: Path, run_id: str = "r1", *, finish: bool = True, platform: str = "cuda") -> Path:
    """Writes the run under root/run_id and returns its directory; `finish` marks it finished."""
    run_dir = root / run_id
    archive = Archive(run_dir, run_id, task="conv1d", platform=platform)
    archive.start(config={"eval": {"baseline": "compile"}, "search": {"concurrency": 2}, "store": {"root": str(root)}},
                  versions={}, host="test")
    archive.add_roots([node(0, None)])
    for step, (i, parent, model) in enumerate(EDGES):
        archive.begin_expansion(step=step, parent_id=parent, seed=step, inspirations=[])
        call = {"model": model, "tokens_in": 100, "tokens_out": 50, "cost_usd": 0.25, "latency_s": 1.5}
        archive.finish_expansion(step=step, node=node(i, parent), failure=None, progress={}, llm_calls=[call])
    results = {0: _ok(1.0, {"phase.compile_s": 1.0, "phase.time_s": 0.5}),
               1: _ok(2.0, {"phase.compile_s": 2.0}),
               2: EvalResult(status=EvalStatus.CRASHED, reason="segfault", metrics={"eval_seconds": 0.5}),
               3: _ok(3.0, {"phase.compile_s": 0.5, "phase.time_s": 1.5, "gpu_busy_s": 0.25})}
    for seq, (i, result) in enumerate(results.items()):
        archive.record_evaluation(node(i, None if i == 0 else EDGES[i - 1][1]), result, seq=seq,
                                  progress={"evaluated": seq + 1})
    if finish:
        archive.meta.finish_run(run_id, status="finished", stop_reason="max_steps", progress={"evaluated": 4})
    archive.close()
    return run_dir


def write_dispatch(run_dir: Path) -> None:
    """Writes the export's dispatch.json the way export.py does (large runs node 3, small falls back)."""
    (run_dir / "export").mkdir(exist_ok=True)
    choices = [{"shape": "small", "signature": "T(1,)", "node_id": None, "speedup": 0.9, "why": "fallback"},
               {"shape": "large", "signature": "T(9,)", "node_id": 3, "speedup": 3.0, "why": "fastest"}]
    (run_dir / "export" / "dispatch.json").write_text(json.dumps({"choices": choices}))
