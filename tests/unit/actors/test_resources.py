"""actors/resources.py: whether a cluster could ever hold a run's fleet, and how that is said."""

from __future__ import annotations

from actors.resources import describe, total, why_never

EVALUATOR = {"CPU": 1.0, "GPU": 1.0}
EXPANDER = {"CPU": 0.5}
GPU_NODE = {"CPU": 4.0, "GPU": 2.0, "memory": 1e9, "node:127.0.0.1": 1.0}
CPU_NODE = {"CPU": 2.0}


def test_what_a_fleet_asks_for_is_the_sum_of_its_bundles_named_cpu_and_gpu_first():
    need = total([EVALUATOR, EVALUATOR, EXPANDER, EXPANDER])
    assert need == {"CPU": 3.0, "GPU": 2.0}
    assert describe(need) == "3 CPU, 2 GPU"
    assert describe({"CPU": 2.0, "MTIA": 1.0, "memory": 5.0, "GPU_group_ab": 1.0}) == "2 CPU, 0 GPU, 1 MTIA"


def test_a_fleet_that_fits_once_others_finish_is_never_called_impossible():
    assert why_never([EVALUATOR, EVALUATOR, EXPANDER], "pack", [GPU_NODE]) is None
    assert why_never([EVALUATOR, EVALUATOR, EXPANDER], "spread", [GPU_NODE, CPU_NODE]) is None
    assert why_never([EVALUATOR, EXPANDER], "strict_pack", [GPU_NODE, CPU_NODE]) is None


def test_more_than_the_cluster_has_in_total_can_never_be_placed():
    why = why_never([EVALUATOR] * 3, "pack", [GPU_NODE])
    assert why == "the cluster has 4 CPU, 2 GPU in total"


def test_a_bundle_no_single_node_can_hold_is_named_with_the_largest_node():
    why = why_never([{"CPU": 1.0, "TPU": 1.0}], "pack", [GPU_NODE, CPU_NODE])
    assert why == "no node can hold a bundle of 1 CPU, 0 GPU, 1 TPU (the largest node has 4 CPU, 2 GPU)"


def test_strict_strategies_count_nodes_not_totals():
    two_gpu_nodes = [GPU_NODE, dict(GPU_NODE)]
    assert why_never([EVALUATOR] * 3, "strict_pack", two_gpu_nodes).startswith("strict_pack needs 3 CPU, 3 GPU on one node")
    assert why_never([EVALUATOR] * 2, "strict_spread", two_gpu_nodes) is None
    assert why_never([EVALUATOR] * 3, "strict_spread", two_gpu_nodes).startswith("strict_spread needs 3 nodes")
