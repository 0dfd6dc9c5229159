"""The tasks' `flops` hooks: hand-computed counts, torch's own FLOP counter, and Task.flops's checks."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from kernelevolve.core.errors import TaskError
from kernelevolve.tasks.loader import load_task
from kernelevolve.tasks.spec import Task

# (task, small shape, count by hand from the formula in the brief)
HAND = [
    ("conv1d", "tiny", 2 * 2 * 6 * 9 * 4 * 3),  # 2*B*Cout*L*Cin*K, B2 Cin4 Cout6 L9 K3 = 2592
    ("conv1d", "k1", 2 * 2 * 5 * 11 * 3 * 1),  # K=1: one tap
    ("wukong_fm", "tiny", 4 * 2 * 5 * 16 * 7),  # 4*B*N*D*K = 4480
    ("wukong_fm", "n70_fp32", 4 * 1 * 70 * 12 * 19),
    ("interformer_pffn", "tiny", 2 * 2 * 8 * 32 * 16),  # 2*B*N*D*K = 16384
    ("interformer_pffn", "odd_fp32", 2 * 2 * 7 * 19 * 13),
]


@pytest.mark.parametrize(("task_name", "shape", "expected"), HAND)
def test_flops_match_hand_counts(task_name, shape, expected):
    assert load_task(task_name).flops(shape) == expected


def test_production_count_of_the_paper_conv1d():
    assert load_task("conv1d").flops("b2048_fp16") == 2 * 2048 * 96 * 200 * 96 * 3  # ~22.6 GFLOP


@pytest.mark.parametrize(("task_name", "shape"), [("conv1d", "tiny"), ("wukong_fm", "tiny"),
                                                  ("interformer_pffn", "odd_fp32")])
def test_flops_match_torch_flop_counter_on_the_reference(task_name, shape):
    """torch counts only convs and matmuls (2 per multiply-add): exactly what the tasks state."""
    task = load_task(task_name)
    inputs = [x.float() for x in task.make_inputs(shape, 0)]
    model = task.model_class(*task.make_init_inputs(shape))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*inputs)
    assert counter.get_total_flops() == task.flops(shape)


@pytest.mark.parametrize("task_name", ["rmsnorm_bwd", "map_id", "mbdt", "batch_event_truncate"])
def test_memory_bound_and_integer_tasks_state_no_flops(task_name):
    task = load_task(task_name)
    for shape in task.all_shape_names():
        assert task.flops(shape) is None


def _fake_task(flops: object) -> Task:
    module = types.ModuleType("fake_task")
    module.SHAPES = {"s": {"n": 3}}
    if flops is not None:
        module.flops = flops
    return Task(name="fake", path=Path("fake_task.py"), module=module)


def test_task_flops_checks_the_hook():
    assert _fake_task(None).flops("s") is None
    assert _fake_task(lambda shape: 7 * shape["n"]).flops("s") == 21
    assert _fake_task(lambda shape: 0).flops("s") == 0
    for bad in (lambda shape: 2.5, lambda shape: -1, lambda shape: True, lambda shape: "10"):
        with pytest.raises(TaskError, match="flops"):
            _fake_task(bad).flops("s")
    with pytest.raises(TaskError, match="no shape"):
        _fake_task(lambda shape: 1).flops("missing")
