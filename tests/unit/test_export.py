"""Export: per-shape choice of the fastest correct kernel, and a package that dispatches or falls back."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
import torch

from kernelevolve.core.types import Candidate, EvalResult, EvalStatus, Node, NodeState, ShapeTiming
from kernelevolve.export import choose_kernels, export_package, input_signature, shape_signatures
from kernelevolve.paths import seed_kernel_path
from kernelevolve.tasks import ShapeSet, load_task

# A stand-in "kernel": plain torch, but it records that it ran and adds a marker we can see.
KERNEL = """
import torch.nn.functional as F
from torch import nn
CALLS = []
class ModelNew(nn.Module):
    def forward(self, x, w, b):
        CALLS.append({tag!r})
        return F.conv1d(x, w, b, padding=w.shape[-1] // 2)
"""


def _node(node_id, timings, status=EvalStatus.OK):
    result = EvalResult(status=status, fitness=1.0, platform="cuda",
                        timings=[ShapeTiming(shape=s, candidate_ms=c, candidate_iqr_ms=0.0, baseline_ms=b)
                                 for s, c, b in timings])
    return Node(id=node_id, parent_id=None, state=NodeState.EVALUATED, result=result,
                candidate=Candidate(source=KERNEL.format(tag=f"node{node_id}"), parent_id=None, origin="t"))


SIGS = {"a": "sig-a", "b": "sig-b", "c": "sig-c", "d": "sig-d"}


def test_each_shape_gets_its_fastest_correct_kernel_or_the_reference():
    nodes = [
        _node(0, [("a", 2.0, 2.0), ("b", 1.0, 2.0)]),           # 1.0x on a, 2.0x on b
        _node(1, [("a", 1.0, 2.0), ("b", 4.0, 2.0)]),           # 2.0x on a, 0.5x on b
        _node(2, [("a", 0.1, 2.0)], status=EvalStatus.INCORRECT),  # fast but wrong: never chosen
        _node(3, [("c", 4.0, 2.0)]),                            # only slower on c
    ]
    choices = {c.shape: c for c in choose_kernels(nodes, SIGS, platform="cuda")}
    assert (choices["a"].node_id, choices["a"].speedup) == (1, 2.0)
    assert (choices["b"].node_id, choices["b"].speedup) == (0, 2.0)
    assert choices["c"].node_id is None and "fallback" in choices["c"].why
    assert choices["d"].node_id is None and "no correct kernel" in choices["d"].why


def test_with_a_torch_compile_baseline_a_kernel_must_also_beat_the_eager_fallback():
    """The package falls back to the eager reference: a kernel faster than a torch.compile that is slower than eager
    (graph breaks, host syncs) but slower than eager itself would make the package slower than its fallback."""
    def timed(node_id, candidate_ms, eager_ms):
        node = _node(node_id, [("a", candidate_ms, 6.0)])  # torch.compile: 6 ms
        node.result.metrics.update({"eager_ms.a": eager_ms} if eager_ms is not None else {})
        return node

    beats_both = choose_kernels([timed(1, 0.2, 0.5)], {"a": "s"}, platform="cuda")[0]
    assert (beats_both.node_id, beats_both.speedup, beats_both.eager_speedup) == (1, 30.0, 2.5)
    assert "30.00x the baseline, 2.50x eager (the fallback)" in beats_both.why
    loses_to_eager = choose_kernels([timed(2, 1.0, 0.5)], {"a": "s"}, platform="cuda")[0]
    assert loses_to_eager.node_id is None and loses_to_eager.speedup == 6.0 and loses_to_eager.eager_speedup == 0.5
    assert "fallback" in loses_to_eager.why and "0.50x eager" in loses_to_eager.why
    unknown = choose_kernels([timed(3, 1.0, None)], {"a": "s"}, platform="cuda")[0]  # an eager baseline: as before
    assert unknown.node_id == 3 and unknown.eager_speedup is None and "eager" not in unknown.why


def test_ties_go_to_the_older_node():
    nodes = [_node(5, [("a", 1.0, 2.0)]), _node(2, [("a", 1.0, 2.0)])]
    assert choose_kernels(nodes, {"a": "s"}, platform="cuda")[0].node_id == 2


def test_signature_tells_shapes_dtypes_and_scalars_apart():
    x16, x32 = torch.zeros(2, 3, dtype=torch.float16), torch.zeros(2, 3)
    assert input_signature([x16, 5]) != input_signature([x32, 5])
    assert input_signature([x16, 5]) != input_signature([x16, 6])
    assert input_signature([x16]) != input_signature([torch.zeros(3, 2, dtype=torch.float16)])


def test_exported_package_dispatches_known_shapes_and_falls_back_on_the_rest(tmp_path, monkeypatch):
    task = load_task("conv1d")
    sigs = shape_signatures(task, ShapeSet.SMALL)
    shapes = list(sigs)
    node = _node(7, [(shapes[0], 1.0, 3.0)])
    choices = choose_kernels([node], sigs, platform="cpu")
    out = export_package(task=task, nodes=[node], choices=choices, out_dir=tmp_path / "conv1d_export",
                         platform="cpu", run_id="r")
    assert "node 7" in (out / "DISPATCH.md").read_text()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # a cpu export runs its kernels only where the interpreter is on
    package = importlib.import_module("conv1d_export")
    kernel = importlib.import_module("conv1d_export.kernel_node7")
    model = package.Model()
    inputs = task.make_inputs(shapes[0], seed=3)
    torch.testing.assert_close(model(*inputs), task.model_class()(*inputs))
    assert kernel.CALLS == ["node7"], "the optimized shape ran the chosen kernel"
    other = task.make_inputs(shapes[1], seed=3)
    torch.testing.assert_close(model(*other), task.model_class()(*other))
    assert kernel.CALLS == ["node7"], "a shape with no chosen kernel ran the reference"
    for name in [m for m in sys.modules if m.startswith("conv1d_export")]:
        del sys.modules[name]


def test_export_refuses_a_choice_that_names_a_missing_node(tmp_path):
    from kernelevolve.core.errors import StoreError
    from kernelevolve.export import Choice

    with pytest.raises(StoreError, match="not in the run"):
        export_package(task=load_task("conv1d"), nodes=[], run_id="r", platform="cuda", out_dir=tmp_path / "x",
                       choices=[Choice(shape="a", signature="s", node_id=4, speedup=2.0, why="")])


def _seed_export(tmp_path, name):
    """A cpu export whose chosen kernel is conv1d's real Triton seed, for every small shape."""
    task = load_task("conv1d")
    sigs = shape_signatures(task, ShapeSet.SMALL)
    result = EvalResult(status=EvalStatus.OK, fitness=1.0, platform="cpu",
                        timings=[ShapeTiming(shape=s, candidate_ms=1.0, candidate_iqr_ms=0.0, baseline_ms=0.1)
                                 for s in sigs])
    node = Node(id=3, parent_id=None, state=NodeState.EVALUATED, result=result,
                candidate=Candidate(source=seed_kernel_path("conv1d").read_text(), parent_id=None, origin="seed"))
    choices = choose_kernels([node], sigs, platform="cpu")
    return export_package(task=task, nodes=[node], choices=choices, out_dir=tmp_path / name, platform="cpu",
                          run_id="r")


RUN_EXPORT = """
import torch
import cpu_export as export
inputs = export.reference.make_inputs(export.reference.SMALL_SHAPES["tiny"], 5)
print(export.explain(*inputs))
torch.testing.assert_close(export.Model()(*inputs), export.reference.Model()(*inputs), atol=1e-4, rtol=5e-4)
print("kernel ran" if "cpu_export.kernel_node3" in __import__("sys").modules else "reference ran")
"""


def test_a_cpu_export_runs_its_triton_kernel_in_a_fresh_process_without_triton_interpret(tmp_path):
    package = _seed_export(tmp_path, "cpu_export")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # the package turns the interpreter on only where no GPU is visible
    proc = subprocess.run([sys.executable, "-c", RUN_EXPORT], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == [
        "kernel_node3 under the Triton interpreter (TRITON_INTERPRET=1 set by this package: no GPU is visible)",
        "kernel ran"]
    dispatch = (package / "DISPATCH.md").read_text()
    assert "## What runs where" in dispatch and "- cpu tensors of a shape above: the chosen kernel under " \
        "Triton's interpreter" in dispatch


def test_a_cpu_export_runs_pytorch_where_triton_was_imported_without_the_interpreter(tmp_path, monkeypatch):
    import triton  # noqa: F401 - imported as a user's process would have, before the package

    _seed_export(tmp_path, "cpu_export_late")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    package = importlib.import_module("cpu_export_late")
    inputs = package.reference.make_inputs(package.reference.SMALL_SHAPES["tiny"], 5)
    try:
        assert package.explain(*inputs) == (
            "PyTorch reference: Triton was imported without TRITON_INTERPRET=1, so its interpreter cannot run in "
            "this process; set TRITON_INTERPRET=1 before anything imports triton")
        torch.testing.assert_close(package.Model()(*inputs), package.reference.Model()(*inputs))
        assert "cpu_export_late.kernel_node3" not in sys.modules, "the kernel was never imported"
    finally:
        for name in [m for m in sys.modules if m.startswith("cpu_export_late")]:
            del sys.modules[name]
