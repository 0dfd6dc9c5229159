"""Ray fleet on a simulated 3-node cluster (ray.cluster_utils.Cluster): a CPU head and two 2-GPU workers."""

from __future__ import annotations

import collections
import threading
import time

import pytest
import ray
from ray.cluster_utils import Cluster

from actors.driver import run_with_ray
from kernelevolve.config import PlacementStrategy
from kernelevolve.core.types import NodeState
from kernelevolve.search.termination import StopReason
from tests.ray.conftest import WORKER_ENV, cluster_stats, fakes, make_run
from tests.ray.fakes_ray import marks

pytestmark = pytest.mark.ray

SMALL = {"cpus_per_evaluator": 0.5, "cpus_per_expander": 0.25, "expanders": 2, "restart_timeout_s": 3.0}


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": 0})
    workers = [c.add_node(num_cpus=1, num_gpus=2) for _ in range(2)]
    c.wait_for_nodes()
    ray.init(address=c.address, namespace="kernelevolve", runtime_env=WORKER_ENV, log_to_driver=False)
    yield c, workers
    ray.shutdown()
    c.shutdown()


def test_spread_evaluators_take_every_gpu_of_every_worker_once(cluster, tmp_path, markers):
    _, workers = cluster
    run = make_run(tmp_path, search={"max_steps": 6, "stall": 0, "concurrency": 4},
                   cluster={**SMALL, "placement": PlacementStrategy.spread})
    judge, operator = fakes(markers, eval_s=0.05, expand_s=0.05)
    assert run_with_ray(run, judge_factory=judge, operator_factory=operator).stop_reason is StopReason.MAX_STEPS
    seats = sorted((e["node_id"], g) for e in cluster_stats(run)["evaluators"] for g in e["gpu_ids"])
    expected = sorted((w.node_id, g) for w in workers for g in ("0", "1"))
    assert seats == expected, "4 evaluators: one per GPU, two per worker node, none on the CPU head"


def _remove_worker_when_busy(c, worker, markers, state):
    """Removes `worker` once an evaluator placed on it has a candidate in flight."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = set(marks(markers, "done_eval"))
        for mark in marks(markers, "start_eval"):
            if mark not in done and ray.get(ray.get_actor(mark[1]).stats.remote())["node_id"] == worker.node_id:
                c.remove_node(worker)
                state["lost"] = mark
                return
        time.sleep(0.05)


def test_the_controller_survives_a_lost_node_and_loses_no_candidate(cluster, tmp_path, markers):
    c, workers = cluster
    run = make_run(tmp_path, search={"max_steps": 12, "stall": 0, "concurrency": 4},
                   cluster={**SMALL, "placement": PlacementStrategy.spread, "eval_batch": 1})
    judge, operator = fakes(markers, eval_s=0.4, expand_s=0.1)
    state: dict[str, tuple[str, str, str]] = {}
    remover = threading.Thread(target=_remove_worker_when_busy, args=(c, workers[1], markers, state))
    remover.start()
    outcome = run_with_ray(run, judge_factory=judge, operator_factory=operator)
    remover.join()
    assert "lost" in state, "the node went away mid-evaluation"
    assert outcome.stop_reason is StopReason.MAX_STEPS
    rows = run.archive.meta.nodes(run.run_id)
    assert [r["id"] for r in rows] == list(range(12)) and all(r["state"] == NodeState.EVALUATED for r in rows)
    done = collections.Counter(key for key, _, _ in marks(markers, "done_eval"))
    assert done == {str(i): 1 for i in range(12)}, "every candidate judged exactly once"
    quarantined = cluster_stats(run)["controller"]["quarantined"]
    assert state["lost"][1] in quarantined, "the evaluators of the lost node are reported"
