"""Child processes compile a starting worker's baselines ahead of it (eval.baseline_compile_procs)."""

import logging
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from kernelevolve.eval.baseline_ahead import compile_ahead
from kernelevolve.eval.sandbox import WorkerProcess
from kernelevolve.eval.worker import job, measure
from kernelevolve.tasks import load_task

CONV1D = str(load_task("conv1d").path)


def _child(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kernelevolve.eval.worker.baseline_child", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_child_builds_every_shape_it_is_given_and_fails_loudly_on_a_bad_one():
    done = _child(CONV1D, "cpu", "compile", "tiny", "tail_fp16")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "shape tiny ready" in done.stderr and "shape tail_fp16 ready" in done.stderr
    bad = _child(CONV1D, "cpu", "compile", "tiny", "no_such_shape")
    assert bad.returncode != 0 and "no_such_shape" in bad.stderr
    assert _child("conv1d").returncode == 2  # a usage error, not a traceback


def _worker(tmp_path: Path) -> WorkerProcess:
    return WorkerProcess(task_path=Path(CONV1D), platform="cpu", env_extra={}, workdir=tmp_path, address_space_gb=0.0,
                         memory_limit_gb=0.0, block_network=False, module="tests.unit.eval.raw_ready_worker")


def test_compile_ahead_spreads_the_shapes_over_children_in_the_workers_dir_and_log(tmp_path):
    worker = _worker(tmp_path)
    try:
        shapes = ["tiny", "tail_fp16", "tiny"]  # over two children: tiny + tiny, tail_fp16
        compile_ahead(worker, shapes, "compile", 2, timeout_s=120)
        log = worker.log_tail(20000)
    finally:
        worker.close()
    assert log.count("shape tiny ready") == 2 and log.count("shape tail_fp16 ready") == 1, log


def test_a_failing_or_hanging_child_costs_only_time(tmp_path, caplog):
    worker = _worker(tmp_path)
    try:
        with caplog.at_level(logging.WARNING):
            compile_ahead(worker, ["tiny", "no_such_shape"], "compile", 2, timeout_s=120)
            assert "['no_such_shape'] ahead of worker" in caplog.text and "exit 1" in caplog.text
            caplog.clear()
            compile_ahead(worker, ["tiny", "tail_fp16"], "compile", 2, timeout_s=0.01)  # stopped before it is done
            assert "(timeout)" in caplog.text and "the worker compiles them itself" in caplog.text
    finally:
        worker.close()


class _DevicePlatform:
    """The cpu platform posing as a device one, so warm_baselines takes its device path."""

    interpreter = False
    name = "cpu"

    def device(self):
        return torch.device("cpu")

    def synchronize(self):
        return None


def test_the_worker_builds_every_shape_itself_in_order_afterwards(monkeypatch):
    task = load_task("conv1d")
    built: list[str] = []
    monkeypatch.setattr(measure, "baseline_model",  # eager stands in for Inductor on this CPU box
                        lambda ctx, shape, kind: built.append(shape) or task.model_class(*task.make_init_inputs(shape)))
    ctx = types.SimpleNamespace(task=task, platform=_DevicePlatform(), compiled={}, snapshot=None)
    job.warm_baselines(ctx, ["tail_fp16", "tiny"], "compile")
    assert built == ["tail_fp16", "tiny"] and ctx.snapshot is not None


def test_children_share_the_cpus_for_inductors_compile_threads(monkeypatch):
    from kernelevolve.eval import baseline_ahead

    monkeypatch.setattr(baseline_ahead.os, "sched_getaffinity", lambda pid: set(range(16)))
    assert [baseline_ahead.compile_threads(n) for n in (1, 2, 5, 32)] == [4, 4, 3, 1]  # capped, then shared out


def test_a_child_gets_the_thread_count_in_its_environment(tmp_path):
    worker = _worker(tmp_path)
    try:
        child = worker.start_trusted(["-c", "import os; print('threads', os.environ['TORCHINDUCTOR_COMPILE_THREADS'])"],
                                     {"TORCHINDUCTOR_COMPILE_THREADS": "5"})
        child.wait(timeout=60)
        log = worker.log_tail(4000)
    finally:
        worker.close()
    assert "threads 5" in log


def _sleeper_worker(tmp_path: Path, started: list, fail_at: int | None = None) -> WorkerProcess:
    """A worker whose trusted children sleep (stand-ins for slow compiles); the fail_at-th start raises."""
    worker = _worker(tmp_path)

    def start(args, env=None):
        if fail_at is not None and len(started) == fail_at:
            raise RuntimeError("interrupted while starting the children")
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                        start_new_session=True))
        return started[-1]

    worker.start_trusted = start
    return worker


def test_no_child_outlives_compile_ahead_on_a_timeout_or_an_exception(tmp_path):
    started: list[subprocess.Popen] = []
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    worker = _sleeper_worker(tmp_path / "a", started)
    try:
        compile_ahead(worker, ["tiny", "tail_fp16", "x"], "compile", 3, timeout_s=0.2)
    finally:
        worker.close()
    assert len(started) == 3 and all(child.poll() is not None for child in started)
    started.clear()
    worker = _sleeper_worker(tmp_path / "b", started, fail_at=1)
    try:
        with pytest.raises(RuntimeError, match="interrupted"):
            compile_ahead(worker, ["tiny", "tail_fp16"], "compile", 2, timeout_s=60)
    finally:
        worker.close()
    assert len(started) == 1 and started[0].poll() is not None


def test_the_evaluator_compiles_ahead_only_for_a_device_compile_baseline_with_no_warm_snapshot(tmp_path, monkeypatch):
    from kernelevolve.eval import baseline_ahead, evaluator
    from kernelevolve.eval.config import EvalConfig
    from kernelevolve.eval.evaluator import Evaluator

    calls: list[list[str]] = []
    monkeypatch.setattr(evaluator, "compile_ahead", lambda worker, shapes, *a: calls.append(list(shapes)))
    ev = Evaluator(load_task("conv1d"), platform="cpu", config=EvalConfig(baseline_compile_procs=4), workdir=tmp_path)
    try:
        with ev._baselines_on_device(None):  # the interpreter: nothing to compile
            pass
        ev.platform = _DevicePlatform()
        with ev._baselines_on_device(None):
            pass
        assert calls == [ev.shapes]
        warm = tmp_path / "cache" / "warm" / "inductor" / "fx"
        warm.mkdir(parents=True)
        (warm / "graph").write_text("compiled")  # an earlier worker published its baselines
        with ev._baselines_on_device(None):
            pass
        assert calls == [ev.shapes]  # loads them; compiling ahead would repeat that
    finally:
        ev.close()
    assert baseline_ahead.MAX_COMPILE_THREADS >= 1
