"""A seeded search with the fake operator and judge reproduces the stored trace exactly (STYLE R41).

Regenerate after an intended change of the search with KERNELEVOLVE_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from kernelevolve.controller import Controller
from kernelevolve.search.config import PolicyName, SearchConfig
from kernelevolve.search.factory import build_policy
from kernelevolve.store.archive import Archive
from tests.fakes import FakeJudge, FakeOperator

GOLDEN = Path(__file__).resolve().parents[2] / "assets" / "golden" / "search_trace.jsonl"
STEPS = 13  # a seed and ~3 generations of 4 children


def _trace(tmp_path: Path) -> list[dict]:
    lines = []
    for policy in PolicyName:
        config = SearchConfig(policy=policy, max_steps=STEPS, stall=0, concurrency=1)
        archive = Archive(tmp_path / policy.value, "golden", task="fake", platform="fake")
        archive.start(config={}, versions={}, host="test")
        outcome = Controller(config=config, policy=build_policy(config), operator=FakeOperator(),
                             judge=FakeJudge(), archive=archive, seed=2026).run()
        steps = {r["child_id"]: r for r in archive.meta.expansions("golden")}
        for node in outcome.graph.nodes():
            row = steps.get(node.id, {})
            lines.append({"policy": policy.value, "node": node.id, "parent": node.parent_id,
                          "step": outcome.graph.stats(node.id).step, "seed": row.get("seed"),
                          "inspirations": json.loads(row.get("inspirations_json", "[]")),
                          "source": node.candidate.source, "status": str(node.result.status),
                          "score": round(node.score, 6)})
        lines.append({"policy": policy.value, "best": outcome.best.id, "stop": str(outcome.stop_reason)})
        archive.close()
    return lines


def test_seeded_search_reproduces_the_golden_trace(tmp_path):
    got = _trace(tmp_path)
    if os.environ.get("KERNELEVOLVE_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in got))
    want = [json.loads(line) for line in GOLDEN.read_text().splitlines()]
    assert len(got) == len(want)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"line {index + 1} of {GOLDEN.name} differs"
