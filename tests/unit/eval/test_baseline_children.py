"""A starting worker compiles its baselines in child processes first (eval.baseline_compile_procs)."""

import subprocess
import sys
import types

import pytest
import torch

from kernelevolve.eval.platforms import get_platform
from kernelevolve.eval.worker import job, measure
from kernelevolve.tasks import load_task


def _child(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kernelevolve.eval.worker.baseline_child", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_child_builds_every_shape_it_is_given_and_fails_loudly_on_a_bad_one():
    done = _child(str(load_task("conv1d").path), "cpu", "compile", "tiny", "tail_fp16")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "shape tiny ready" in done.stderr and "shape tail_fp16 ready" in done.stderr
    bad = _child(str(load_task("conv1d").path), "cpu", "compile", "tiny", "no_such_shape")
    assert bad.returncode != 0 and "no_such_shape" in bad.stderr
    assert _child("conv1d").returncode == 2  # a usage error, not a traceback


class _DevicePlatform:
    """The cpu platform posing as a device one, so warm_baselines takes its device path."""

    interpreter = False
    name = "cpu"

    def device(self):
        return torch.device("cpu")

    def synchronize(self):
        return None


def test_the_worker_spreads_shapes_over_children_then_builds_each_itself(monkeypatch, capfd):
    task = load_task("conv1d")
    built: list[str] = []
    monkeypatch.setattr(measure, "baseline_model",  # eager stands in for Inductor on this CPU box
                        lambda ctx, shape, kind: built.append(shape) or task.model_class(*task.make_init_inputs(shape)))
    ctx = types.SimpleNamespace(task=task, platform=_DevicePlatform(), compiled={}, snapshot=None)
    shapes = ["tiny", "tail_fp16", "tiny"]  # three entries over two children: tiny + tiny, tail_fp16
    waited = job.warm_baselines(ctx, shapes, "compile", procs=2)
    err = capfd.readouterr().err
    assert waited > 0 and err.count("shape tiny ready") == 2 and err.count("shape tail_fp16 ready") == 1
    assert built == shapes  # and the worker then built every shape itself, in order (from the cache on a device)
    assert ctx.snapshot is not None


@pytest.mark.parametrize("procs, shapes", [(1, ["tiny", "tail_fp16"]), (4, ["tiny"])])
def test_no_child_for_one_process_or_one_shape(monkeypatch, procs, shapes):
    task = load_task("conv1d")
    monkeypatch.setattr(measure, "baseline_model", lambda ctx, shape, kind: task.model_class(*task.make_init_inputs(shape)))
    monkeypatch.setattr(job.subprocess, "Popen", lambda *a, **k: pytest.fail("no child expected"))
    ctx = types.SimpleNamespace(task=task, platform=_DevicePlatform(), compiled={}, snapshot=None)
    assert job.warm_baselines(ctx, shapes, "compile", procs=procs) == 0.0


def test_a_failing_child_costs_only_time(monkeypatch, caplog):
    task = load_task("conv1d")
    built: list[str] = []
    monkeypatch.setattr(measure, "baseline_model",
                        lambda ctx, shape, kind: built.append(shape) or task.model_class(*task.make_init_inputs(shape)))
    ctx = types.SimpleNamespace(task=task, platform=_DevicePlatform(), compiled={}, snapshot=None)
    ctx.platform.name = "no_such_platform"  # the children cannot start their platform: they exit non-zero
    job.warm_baselines(ctx, ["tiny", "tail_fp16"], "compile", procs=2)
    assert built == ["tiny", "tail_fp16"]
    assert "failed" in caplog.text and "the worker compiles them itself" in caplog.text


def test_the_cpu_platform_is_what_the_children_get():
    assert get_platform("cpu").interpreter  # so these tests' children build eagerly, as the worker would on cpu
