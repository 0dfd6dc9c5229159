"""Warm start: the best distinct kernels of an earlier run, or of every run of a task."""

from __future__ import annotations

import pytest

from kernelevolve.controller import Controller
from kernelevolve.core.errors import StoreError
from kernelevolve.search.config import SearchConfig
from kernelevolve.search.greedy import GreedyPolicy
from kernelevolve.store.archive import Archive
from kernelevolve.store.warmstart import best_kernels
from tests.fakes import FakeJudge, FakeOperator


def _finished_run(root, run_id, task, seed):
    archive = Archive(root / run_id, run_id, task=task, platform="fake")
    archive.start(config={}, versions={}, host="test")
    outcome = Controller(config=SearchConfig(concurrency=1, max_steps=8, stall=0), policy=GreedyPolicy(),
                         operator=FakeOperator(), judge=FakeJudge(), archive=archive, seed=seed).run()
    archive.close()
    return outcome


def test_best_kernels_of_a_run_are_ranked_and_distinct(tmp_path):
    outcome = _finished_run(tmp_path, "a", "conv1d", 1)
    got = best_kernels(tmp_path, "a", 3)
    ranked = sorted((n for n in outcome.graph.correct()), key=lambda n: (-n.score, n.id))
    assert [k.node_id for k in got] == [n.id for n in ranked[:3]]
    assert len({k.source for k in got}) == 3
    seed = got[0].as_seed()
    assert seed.parent_id is None and seed.origin == f"warm:a/{got[0].node_id}"


def test_a_task_name_pools_every_run_of_that_task(tmp_path):
    a = _finished_run(tmp_path, "a", "conv1d", 1)
    b = _finished_run(tmp_path, "b", "conv1d", 2)
    _finished_run(tmp_path, "c", "rmsnorm", 3)
    got = best_kernels(tmp_path, "conv1d", 2)
    assert {k.run_id for k in got} <= {"a", "b"}
    assert got[0].score == max(a.best.score, b.best.score)


def test_an_unknown_run_or_task_is_an_actionable_error(tmp_path):
    with pytest.raises(StoreError, match="runs list"):
        best_kernels(tmp_path, "nothing", 3)
