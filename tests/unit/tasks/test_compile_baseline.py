"""The torch.compile baseline is a static compile per shape, for every shape of a task."""

import torch
from torch import nn

from kernelevolve.tasks.reference import compile_baseline

# a task file with only what a task needs (tests append the settings they check)
PLAIN_TASK = "import torch\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        return x + 1\n" \
             "def get_inputs():\n    return [torch.randn(3)]\ndef get_init_inputs():\n    return []\n"


class _RowSum(nn.Module):
    def forward(self, x):
        return (x * 2).sum(0)


def test_every_shape_gets_its_own_static_graph_even_past_dynamos_default_recompile_limit():
    torch._dynamo.reset()
    seen: list[list[object]] = []

    def backend(gm, example_inputs):
        seen.append([tuple(t.shape) if isinstance(t, torch.Tensor) else t for t in example_inputs])
        return gm.forward

    rows = [3, 8, 17, 1, 5, 6, 7, 9, 10, 11, 12]  # 11 shapes of one Model class: more than dynamo's default 8
    for n in rows:
        model = compile_baseline(_RowSum(), backend=backend)  # a fresh instance per shape, as the worker builds them
        x = torch.arange(n * 4, dtype=torch.float32).reshape(n, 4) - 7.5
        assert torch.equal(model(x), (x * 2).sum(0))
    # One graph per shape, each with concrete sizes: a symbolic size (an int or SymInt argument) would mean dynamo
    # compiled a later shape "automatic dynamic"; fewer graphs would mean it fell back to eager past its limit.
    assert seen == [[(n, 4)] for n in rows]


def test_compile_dynamic_is_static_by_default_and_a_bad_value_fails_at_load(tmp_path):
    import pytest

    from kernelevolve.core.errors import TaskError
    from kernelevolve.tasks import load_task

    body = PLAIN_TASK
    (tmp_path / "plain.py").write_text(body)
    assert load_task(str(tmp_path / "plain.py")).compile_dynamic is False
    (tmp_path / "jagged.py").write_text(body + "COMPILE_DYNAMIC = None\n")
    assert load_task(str(tmp_path / "jagged.py")).compile_dynamic is None
    (tmp_path / "bad.py").write_text(body + "COMPILE_DYNAMIC = 'yes'\n")
    with pytest.raises(TaskError, match="COMPILE_DYNAMIC must be False"):
        load_task(str(tmp_path / "bad.py"))
    (tmp_path / "dynamic.py").write_text(body + "COMPILE_DYNAMIC = True\n")
    assert load_task(str(tmp_path / "dynamic.py")).compile_dynamic is True


def test_baseline_kernels_never_file_autotuning_results_by_a_path_another_process_made(tmp_path):
    """Every baseline compiles with Inductor's autotune cache off, even when a task's COMPILE_OPTIONS turns it on: a
    cached graph's kernels carry the compiling process's cache dir, where a later run's jailed worker cannot write."""
    from torch._inductor.runtime.autotune_cache import AutotuneCache, inductor_meta_from_config

    from kernelevolve.tasks import load_task

    body = PLAIN_TASK + "COMPILE_OPTIONS = {'autotune_local_cache': True, 'split_reductions': False}\n"
    (tmp_path / "asks_for_it.py").write_text(body)
    options = load_task(str(tmp_path / "asks_for_it.py")).compile_options
    assert options == {"autotune_local_cache": False, "split_reductions": False}  # the task's own setting is kept
    other_run = tmp_path / "run1" / "eval" / "worker_gone" / "cache" / "inductor" / "ab" / "kernel.py"
    with torch._inductor.config.patch(options):
        meta = inductor_meta_from_config()  # what codegen stores with every kernel of the compiled graph
    assert AutotuneCache.create(meta, str(other_run), "configs") is None  # nothing is read or written by that path
    with torch._inductor.config.patch({"autotune_local_cache": True}):  # the default: it would use that path
        assert AutotuneCache.create(inductor_meta_from_config(), str(other_run), "configs") is not None
