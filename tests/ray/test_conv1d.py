"""The same conv1d experiment on cluster=local and cluster=ray gives the same kind of result
(real offline operator, real evaluator on the Triton interpreter)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from kernelevolve.config import ClusterKind, register_configs, to_config
from kernelevolve.core.types import EvalStatus
from kernelevolve.runner import prepare_run, run_search

pytestmark = [pytest.mark.ray, pytest.mark.slow]

CONF = Path(__file__).resolve().parents[2] / "conf"


def _run(tmp_path, cluster: str):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "+experiment=conv1d", "search.max_steps=3", "search.concurrency=2", f"store.root={tmp_path}",
            f"run.id={cluster}", "platform=cpu", f"cluster={cluster}", "cluster.num_cpus=2",
            "cluster.cpus_per_evaluator=0.5", "cluster.cpus_per_expander=0.25"])
    config = to_config(cfg)
    run = prepare_run(config)
    if config.cluster.kind is ClusterKind.ray:
        from actors.driver import run_with_ray

        return run_with_ray(run)
    from kernelevolve.eval.evaluator import Evaluator

    with Evaluator(run.task, platform=run.platform, config=config.eval, workdir=run.run_dir / "eval") as judge:
        return run_search(run, judge)


def test_conv1d_gives_the_same_kind_of_result_locally_and_on_ray(tmp_path):
    local, on_ray = _run(tmp_path, "local"), _run(tmp_path, "ray")
    for outcome in (local, on_ray):
        assert outcome.progress.evaluated == 3
        assert outcome.best is not None and outcome.best.score > 0
        assert all(n.result.status is EvalStatus.OK for n in outcome.graph.nodes()), "the seed and its tunings are correct"
    assert local.stop_reason is on_ray.stop_reason
    notes = {frozenset(n.candidate.note for n in o.graph.nodes()) for o in (local, on_ray)}
    assert len(notes) == 1, "per-step seeds make both clusters propose the same candidates"
