"""The torch.compile baseline is a static compile per shape, for every shape of a task."""

import pickle
import shutil

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


def test_a_baselines_autotuning_result_is_filed_and_found_under_the_loading_process_cache_dir(tmp_path, monkeypatch):
    """Inductor files a kernel's autotuning result beside the kernel's source in the compiling process's cache dir,
    and its cached graph carries that path to every process that loads it. Under the baseline's settings the result
    is written and read under the current process's cache dir instead: a later run's jailed worker never writes into
    another run's dir, and every process that gets the snapshot's copy launches the config the first one chose."""
    import triton
    from torch._inductor.runtime.autotune_cache import AutotuneCache, inductor_meta_from_config

    from kernelevolve.tasks import load_task

    (tmp_path / "task.py").write_text(PLAIN_TASK + "COMPILE_OPTIONS = {'split_reductions': False}\n")
    options = load_task(str(tmp_path / "task.py")).compile_options
    assert options == {"split_reductions": False}  # this torch has the hooks: Inductor's autotune cache stays on
    compiling, loading = tmp_path / "run1" / "worker_a" / "inductor", tmp_path / "run2" / "worker_b" / "inductor"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(compiling))
    with torch._inductor.config.patch(options):
        meta = inductor_meta_from_config()  # what codegen stores with every kernel of the compiled graph
    kernel = compiling / "ab" / "cabkernelhash.py"  # where the compiling process filed the kernel's source
    shipped = pickle.dumps(AutotuneCache.create(meta, str(kernel), "configs-hash"))  # as a cached graph holds it

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(loading))  # another process loads the graph and autotunes
    configs = [triton.Config({"XBLOCK": 64}, num_warps=4, num_stages=1),
               triton.Config({"XBLOCK": 128}, num_warps=8, num_stages=1)]
    pickle.loads(shipped).save(configs[1], 2_000_000)
    assert [p.relative_to(loading).as_posix() for p in loading.rglob("*.best_config")] != []
    assert all(p.parent.name == "ab" for p in loading.rglob("*.best_config"))
    assert not compiling.exists()  # nothing written where the graph was compiled

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "run3" / "worker_c" / "inductor"))
    shutil.copytree(loading, tmp_path / "run3" / "worker_c" / "inductor")  # a warm snapshot's copy
    best = AutotuneCache.create(meta, str(kernel), "configs-hash").read_best(meta, configs)  # a loaded kernel's check
    assert best is not None and best.kwargs == {"XBLOCK": 128} and best.num_warps == 8
