"""Task.tolerance: dtype-keyed TOLERANCES entries resolve by the shape's dtype."""

from __future__ import annotations

import pytest
import torch

from kernelevolve.core.errors import TaskError
from kernelevolve.tasks import Tolerance, load_task


def test_rmsnorm_bwd_tolerances_follow_the_shape_dtype():
    task = load_task("rmsnorm_bwd")
    dx_bf16, dw = torch.zeros(2, dtype=torch.bfloat16), torch.zeros(2)
    assert task.tolerance(dx_bf16, 0, shape_name="m4_n32") == Tolerance(atol=2e-2, rtol=2e-2)
    assert task.tolerance(dw, 1, shape_name="m4_n32") == Tolerance(rel_l2=1e-2, atol=1e-5, rtol=1.3e-6)
    assert task.tolerance(dw, 1, shape_name="m3_n17_fp32").rel_l2 == 1e-5
    assert task.tolerance(torch.zeros(2), 0, shape_name="m3_n17_fp32") == Tolerance(atol=1e-5, rtol=1e-4)


def test_without_a_shape_the_output_dtype_picks_the_entry():
    task = load_task("rmsnorm_bwd")
    assert task.tolerance(torch.zeros(2, dtype=torch.bfloat16), 0).atol == 2e-2
    with pytest.raises(TaskError, match="no entry for 'float16'"):
        task.tolerance(torch.zeros(2, dtype=torch.float16), 0)


def test_integer_tasks_compare_exactly():
    for name in ("map_id", "mbdt", "batch_event_truncate"):
        task = load_task(name)
        assert task.tolerance(torch.zeros(2, dtype=torch.int64)).exact
    assert load_task("batch_event_truncate").tolerance(torch.zeros(2), 3).exact  # float values are copied


def test_float_tasks_use_the_paper_tolerances():
    assert load_task("wukong_fm").tolerance(torch.zeros(1, dtype=torch.float16)) == Tolerance(atol=1e-3, rtol=1e-2)
    pffn = load_task("interformer_pffn")
    assert pffn.tolerance(torch.zeros(1, dtype=torch.float16), shape_name="odd") == Tolerance(atol=1e-2, rtol=1e-2)
    assert pffn.tolerance(torch.zeros(1, dtype=torch.bfloat16), shape_name="n1_bf16").atol == 3e-2
