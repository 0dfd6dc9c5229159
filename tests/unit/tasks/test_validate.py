"""Task validation: every broken task gets a TaskError-style message naming the file, the problem and the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kernelevolve.core.errors import TaskError
from kernelevolve.tasks import ShapeSet, builtin_task_names, load_task
from kernelevolve.tasks import validate as validate_mod
from kernelevolve.tasks.validate import check_shape, estimate_input_bytes, shapes_for

KERNELBENCH = Path(__file__).resolve().parents[2] / "assets" / "kernelbench"

HEADER = "import torch\nfrom torch import nn\n"
GOOD_MODEL = "class Model(nn.Module):\n    def forward(self, x):\n        return x * 2\n"


def _task(tmp_path, body, name="t.py", model=""):
    path = tmp_path / name
    path.write_text(HEADER + model + textwrap.dedent(body))
    return load_task(str(path))


def _check(task, device="cpu"):
    (name, family, heldout), *_ = shapes_for(task, device)
    return check_shape(task, name, family, heldout, device)


def test_missing_model_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "nomodel.py"
    path.write_text(HEADER + "def get_inputs():\n    return [torch.ones(2)]\n")
    with pytest.raises(TaskError, match="nomodel.py.*class Model"):
        load_task(str(path))


def test_get_inputs_that_raises(tmp_path):
    task = _task(tmp_path, GOOD_MODEL + "def get_inputs():\n    raise ValueError('boom')\n")
    report = _check(task)
    assert "t.py" in report.error and "get_inputs" in report.error and "ValueError: boom" in report.error
    assert "fix" in report.error


# a draw per element: one random.random() offset for all of x fell within the 1% tolerance for ~3% of draws
@pytest.mark.parametrize("noise", ["torch.rand_like(x)", "torch.tensor([random.random() for _ in x])",
                                   "nn.functional.dropout(x, 0.5)"])
def test_nondeterministic_reference(tmp_path, noise):
    task = _task(tmp_path, f"""
        import random
        class Model(nn.Module):
            def forward(self, x):
                return x + {noise}
        def get_inputs():
            return [torch.randn(8)]
    """)
    report = _check(task)
    assert "nondeterministic" in report.error and "t.py" in report.error and "remove randomness" in report.error


def test_reference_with_tiny_float_jitter_is_a_note_not_an_error(tmp_path):
    task = _task(tmp_path, """
        ATOL = 1e-3
        RTOL = 1e-3
        class Model(nn.Module):
            def forward(self, x):
                return x + 1e-7 * torch.rand_like(x)
        def get_inputs():
            return [torch.randn(8)]
    """)
    report = _check(task)
    assert report.error == "" and any("bitwise" in n for n in report.notes)


@pytest.mark.parametrize("returned", ["{'y': x}", "float(x.sum())", "()", "(x, 3)"])
def test_outputs_that_are_not_tensors(tmp_path, returned):
    task = _task(tmp_path, f"""
        class Model(nn.Module):
            def forward(self, x):
                return {returned}
        def get_inputs():
            return [torch.randn(4)]
    """)
    report = _check(task)
    assert "must return a tensor" in report.error and "t.py" in report.error


def test_inputs_that_are_not_tensors(tmp_path):
    task = _task(tmp_path, GOOD_MODEL + "import numpy as np\ndef get_inputs():\n    return [np.ones(3)]\n")
    assert "ndarray" in _check(task).error and "torch.from_numpy" in _check(task).error


def test_make_inputs_ignoring_its_seed(tmp_path):
    task = _task(tmp_path, model=GOOD_MODEL, body="""
        SHAPES = {"s": {"n": 5}}
        def make_inputs(shape, seed):
            return [torch.randn(shape["n"])]  # global generator: a new draw every call
    """)
    assert "same seed gave different inputs" in _check(task, "cpu").error


def test_input_sizes_that_change_with_the_seed(tmp_path):
    task = _task(tmp_path, model=GOOD_MODEL, body="""
        SHAPES = {"s": {"n": 5}}
        def make_inputs(shape, seed):
            return [torch.ones(shape["n"] + seed)]
    """)
    error = _check(task, "cpu").error
    assert "different sizes" in error and "t.py" in error and "fixed generator" in error


def test_output_sizes_that_change_with_the_seed(tmp_path):
    task = _task(tmp_path, model="", body="""
        class Model(nn.Module):
            def forward(self, x):
                return x[x > 0]
        SHAPES = {"s": {"n": 64}}
        def make_inputs(shape, seed):
            return [torch.randn(shape["n"], generator=torch.Generator().manual_seed(seed))]
    """)
    error = _check(task, "cpu").error
    assert "outputs of different sizes" in error and "t.py" in error


HUGE = """
    SHAPES = {"huge": {"n": 1 << 40}}
    SMALL_SHAPES = {"tiny": {"n": 3}}
    def make_inputs(shape, seed):
        return [torch.randn(shape["n"], generator=torch.Generator().manual_seed(seed))]
"""


def test_shape_too_big_for_cpu_is_skipped_with_the_reason(tmp_path):
    task = _task(tmp_path, HUGE, model=GOOD_MODEL)
    assert estimate_input_bytes(task, "huge") == 4 << 40  # measured on fake tensors, nothing allocated
    report = check_shape(task, "huge", ShapeSet.PRODUCTION, False, "cpu")
    assert report.skipped.startswith("skipped on cpu") and "GiB" in report.skipped and not report.error
    assert not check_shape(task, "tiny", ShapeSet.SMALL, False, "cpu").skipped


def test_shape_too_big_for_the_device_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(validate_mod, "free_memory_bytes", lambda device: 1 << 30)
    report = check_shape(_task(tmp_path, HUGE, model=GOOD_MODEL), "huge", ShapeSet.PRODUCTION, False, "cuda")
    assert "'huge'" in report.error and "shrink the shape" in report.error and "t.py" in report.error


def test_tolerance_only_the_fp32_reference_can_meet(tmp_path):
    task = _task(tmp_path, """
        UPCAST_REFERENCE = True
        ATOL = 0.0
        RTOL = 0.0
        class Model(nn.Module):
            def forward(self, x, y):
                return x @ y
        def get_inputs():
            return [torch.randn(16, 64).half(), torch.randn(64, 16).half()]
    """)
    report = _check(task)
    assert "native-precision reference fails" in report.error and "loosen" in report.error
    assert report.upcast and not report.upcast[0]["ok"]
    held = check_shape(task, "default", ShapeSet.PRODUCTION, True, "cpu")  # heldout: reported as a warning
    assert not held.error and any("native-precision reference fails" in n for n in held.notes)


def test_data_dependent_generators_have_no_dry_run_estimate():
    assert estimate_input_bytes(load_task("map_id"), "u7_n33") is None
    assert estimate_input_bytes(load_task("wukong_fm"), "tiny") == (2 * 5 * 16 + 2 * 5 * 7) * 4  # fp32 x and y


@pytest.mark.parametrize("name", builtin_task_names())
def test_every_builtin_passes_its_cpu_check(name):
    task = load_task(name)
    reports = [check_shape(task, n, f, h, "cpu") for n, f, h in shapes_for(task, "cpu")]
    assert reports and all(not r.error and not r.skipped for r in reports), [r.error for r in reports]
    if task.upcast_reference:
        assert all(u["ok"] for r in reports for u in r.upcast) and any(r.upcast for r in reports)


@pytest.mark.parametrize("path", sorted(KERNELBENCH.glob("level*/*.py")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_kernelbench_files_pass_unmodified(path):
    task = load_task(str(path))
    (report,) = [check_shape(task, n, f, h, "cpu") for n, f, h in shapes_for(task, "cpu")]
    assert report.name == "default" and not report.error and report.outputs


def test_a_task_without_an_input_generator_is_named_in_one_line(tmp_path):
    task = _task(tmp_path, GOOD_MODEL + "def get_init_inputs():\n    return []\n")
    assert _check(task).error == (f"{task.path}: defines neither get_inputs() nor make_inputs(shape, seed); add "
                                  "get_inputs() returning the list of forward inputs (KernelBench format).")


def test_the_launch_check_refuses_a_reference_that_raises_and_says_how_to_see_every_shape(tmp_path):
    task = _task(tmp_path, "def get_inputs():\n    return [torch.ones(3)]\n",
                 model="class Model(nn.Module):\n    def forward(self, x):\n        raise ValueError('boom')\n")
    with pytest.raises(TaskError) as info:
        validate_mod.check_task_for_launch(task)
    assert str(info.value) == (f"{task.path}: the reference Model.forward raised ValueError on shape 'default': boom; "
                               "fix the reference or the inputs make_inputs builds. (`kernelevolve task check "
                               f"{task.path}` runs every check on every shape)")


def test_the_launch_check_runs_only_the_smallest_small_shape(tmp_path):
    # the big shape's generator raises: the launch check must never build it
    task = _task(tmp_path, """
        SMALL_SHAPES = {"big": {"n": 4096, "m": 64}, "small": {"n": 3, "m": 2}}
        def make_inputs(shape, seed):
            if shape["n"] > 100:
                raise MemoryError("the big shape was built")
            return [torch.randn(shape["n"], shape["m"], generator=torch.Generator().manual_seed(seed))]
    """, model=GOOD_MODEL)
    validate_mod.check_task_for_launch(task)
    assert "the big shape was built" in check_shape(task, "big", ShapeSet.SMALL, False, "cpu").error, \
        "`task check` itself still builds every shape"
