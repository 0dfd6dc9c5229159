"""Child processes compile a starting worker's baselines ahead of it (eval.baseline_compile_procs)."""

import logging
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from eval_helpers import until

from kernelevolve.core.errors import SandboxError
from kernelevolve.eval.baseline_ahead import AheadCompile
from kernelevolve.eval.sandbox import WorkerProcess
from kernelevolve.eval.wire.ahead import AHEAD_DIR, MARKS_ENV, mark_path
from kernelevolve.eval.worker import job, measure
from kernelevolve.tasks import load_task

CONV1D = str(load_task("conv1d").path)


def _child(*args: str, marks: Path | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, MARKS_ENV: str(marks)} if marks is not None else None
    return subprocess.run([sys.executable, "-m", "kernelevolve.eval.worker.baseline_child", *args],
                          capture_output=True, text=True, timeout=120, env=env, input=stdin)


def test_the_child_builds_every_shape_it_is_given_and_fails_loudly_on_a_bad_one():
    done = _child(CONV1D, "cpu", "compile", "tiny", "tail_fp16")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "shape tiny ready" in done.stderr and "shape tail_fp16 ready" in done.stderr
    bad = _child(CONV1D, "cpu", "compile", "tiny", "no_such_shape")
    assert bad.returncode != 0 and "no_such_shape" in bad.stderr
    assert _child("conv1d").returncode == 2  # a usage error, not a traceback


def test_a_child_with_marks_compiles_nothing_until_go_then_marks_each_shape_it_built(tmp_path):
    log = tmp_path / "child.log"
    with log.open("w") as out:
        child = subprocess.Popen([sys.executable, "-m", "kernelevolve.eval.worker.baseline_child", CONV1D, "cpu",
                                  "compile", "tiny", "tail_fp16"], stdin=subprocess.PIPE, stdout=out, stderr=out,
                                 env={**os.environ, MARKS_ENV: str(tmp_path / "marks")})
    (tmp_path / "marks").mkdir()
    try:
        until(lambda: "waiting for go" in log.read_text(), "the child's 'waiting for go' line", limit_s=120)
        time.sleep(1.0)  # a child that did not wait would build these tiny shapes well within this
        assert not any((tmp_path / "marks").iterdir()) and "ready" not in log.read_text()
        child.stdin.write(b"go\n")
        child.stdin.close()
        assert child.wait(timeout=120) == 0, log.read_text()[-2000:]
    finally:
        if child.poll() is None:
            child.kill()
    marks = tmp_path / "marks"
    assert mark_path(marks, "tiny").exists() and mark_path(marks, "tail_fp16").exists()
    assert mark_path(marks, "tiny") != mark_path(marks, "tail_fp16")
    (tmp_path / "stopped").mkdir()
    for said in ("", "stop\n"):  # end of input (the evaluator is gone) or anything but go: nothing is compiled
        stopped = _child(CONV1D, "cpu", "compile", "tiny", marks=tmp_path / "stopped", stdin=said)
        assert stopped.returncode == 0 and "stopped before compiling" in stopped.stderr
        assert "ready" not in stopped.stderr and not any((tmp_path / "stopped").iterdir())


def _worker(tmp_path: Path) -> WorkerProcess:
    return WorkerProcess(task_path=Path(CONV1D), platform="cpu", env_extra={}, workdir=tmp_path, address_space_gb=0.0,
                         memory_limit_gb=0.0, block_network=False, module="tests.unit.eval.raw_ready_worker")


def _ahead(worker: WorkerProcess, shapes: list[str], procs: int, timeout_s: float) -> AheadCompile:
    ahead = AheadCompile(worker, shapes, "compile", procs, timeout_s)
    ahead.go()
    return ahead


def test_the_children_spread_the_shapes_and_mark_each_in_the_workers_dir(tmp_path):
    worker = _worker(tmp_path)
    try:
        shapes = ["tiny", "tail_fp16", "tiny"]  # over two children: tiny + tiny, tail_fp16
        ahead = _ahead(worker, shapes, 2, timeout_s=120)
        assert ahead.wait(120)
        ahead.close()
        log = worker.log_tail(20000)
        marks = Path(worker.tmpdir) / AHEAD_DIR
        marked = sorted(p.name for p in marks.iterdir())
    finally:
        worker.close()
    assert log.count("shape tiny ready") == 2 and log.count("shape tail_fp16 ready") == 1, log
    assert marked == sorted({mark_path(marks, s).name for s in shapes})


def test_a_failing_or_hanging_child_costs_only_time_and_its_shapes_are_marked(tmp_path, caplog):
    worker = _worker(tmp_path)
    marks = Path(worker.tmpdir) / AHEAD_DIR
    try:
        with caplog.at_level(logging.WARNING):
            ahead = _ahead(worker, ["tiny", "no_such_shape"], 2, timeout_s=120)
            assert ahead.wait(120)
            ahead.close()
            assert "['no_such_shape'] ahead of worker" in caplog.text and "exit 1" in caplog.text
            assert mark_path(marks, "no_such_shape").exists()  # the worker stops waiting and compiles it itself
            caplog.clear()
            ahead = _ahead(worker, ["tail_fp16", "big"], 2, timeout_s=0.01)  # stopped before it is done
            assert ahead.wait(60)
            ahead.close()
            assert "(timeout)" in caplog.text and "the worker compiles them itself" in caplog.text
            assert mark_path(marks, "tail_fp16").exists() and mark_path(marks, "big").exists()
    finally:
        worker.close()


def test_children_never_let_go_compile_nothing_and_close_stops_them_and_marks_their_shapes(tmp_path):
    worker = _worker(tmp_path)
    try:
        ahead = AheadCompile(worker, ["tiny", "tail_fp16"], "compile", 2, timeout_s=120)
        until(lambda: worker.log_tail(20000).count("waiting for go") == 2, "both children's 'waiting for go' lines",
              limit_s=120)
        time.sleep(1.0)  # a child that did not wait would build these tiny shapes well within this
        marks = Path(worker.tmpdir) / AHEAD_DIR
        assert not any(marks.iterdir())
        ahead.close()  # the worker failed to start: no go
        assert all(child.poll() is not None for _, child in ahead.children)
        assert mark_path(marks, "tiny").exists() and mark_path(marks, "tail_fp16").exists()
        assert "ready" not in worker.log_tail(20000)
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


def _warm_ctx(monkeypatch, built: list[str]) -> types.SimpleNamespace:
    task = load_task("conv1d")
    monkeypatch.setattr(measure, "baseline_model",  # eager stands in for Inductor on this CPU box
                        lambda ctx, shape, kind: built.append(shape) or task.model_class(*task.make_init_inputs(shape)))
    return types.SimpleNamespace(task=task, platform=_DevicePlatform(), compiled={}, snapshot=None)


def test_the_worker_builds_every_shape_itself_in_order_when_none_is_compiled_ahead(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    built: list[str] = []
    ctx = _warm_ctx(monkeypatch, built)
    assert job.warm_baselines(ctx, ["tail_fp16", "tiny"], "compile") == 0.0
    assert built == ["tail_fp16", "tiny"] and ctx.snapshot is not None


def test_the_worker_loads_shapes_as_their_marks_appear_and_compiles_the_unmarked_ones_at_its_deadline(
        monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the worker's dir
    marks = tmp_path / AHEAD_DIR
    marks.mkdir()
    built: list[str] = []
    ctx = _warm_ctx(monkeypatch, built)
    mark_path(marks, "tiny").touch()  # a child finished tiny; tail_fp16's never reports
    waited = job.warm_baselines(ctx, ["tail_fp16", "tiny"], "compile", ahead_s=0.2)
    assert built == ["tiny", "tail_fp16"] and waited > 0 and ctx.snapshot is not None


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

    def start(args, env=None, stdin=subprocess.DEVNULL):
        if fail_at is not None and len(started) == fail_at:
            raise RuntimeError("interrupted while starting the children")
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], stdin=stdin,
                                        start_new_session=True))
        return started[-1]

    worker.start_trusted = start
    return worker


def test_no_child_outlives_its_timeout_or_an_exception_while_starting(tmp_path):
    started: list[subprocess.Popen] = []
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    worker = _sleeper_worker(tmp_path / "a", started)
    try:
        ahead = _ahead(worker, ["tiny", "tail_fp16", "x"], 3, timeout_s=0.2)
        assert ahead.wait(60)
        ahead.close()
    finally:
        worker.close()
    assert len(started) == 3 and all(child.poll() is not None for child in started)
    started.clear()
    worker = _sleeper_worker(tmp_path / "b", started, fail_at=1)
    try:
        with pytest.raises(RuntimeError, match="interrupted"):
            AheadCompile(worker, ["tiny", "tail_fp16"], "compile", 2, timeout_s=60)
    finally:
        worker.close()
    assert len(started) == 1 and started[0].poll() is not None


def test_the_evaluator_compiles_ahead_only_for_a_device_compile_baseline_with_no_warm_snapshot(tmp_path):
    from kernelevolve.eval import baseline_ahead
    from kernelevolve.eval.config import EvalConfig
    from kernelevolve.eval.evaluator import Evaluator

    ev = Evaluator(load_task("conv1d"), platform="cpu", config=EvalConfig(baseline_compile_procs=4), workdir=tmp_path)
    try:
        assert not baseline_ahead.compiles_ahead(ev.config, ev.platform, ev.shapes, ev.workdir)  # the interpreter: nothing to compile
        ev.platform = _DevicePlatform()
        assert baseline_ahead.compiles_ahead(ev.config, ev.platform, ev.shapes, ev.workdir)
        warm = tmp_path / "cache" / "warm" / "inductor" / "fx"
        warm.mkdir(parents=True)
        (warm / "graph").write_text("compiled")  # an earlier worker published its baselines
        assert not baseline_ahead.compiles_ahead(ev.config, ev.platform, ev.shapes, ev.workdir)  # loads them; compiling ahead would repeat that
    finally:
        ev.close()
    one = Evaluator(load_task("conv1d"), platform="cpu", config=EvalConfig(baseline_compile_procs=1),
                    workdir=tmp_path / "one")
    try:
        one.platform = _DevicePlatform()
        assert not baseline_ahead.compiles_ahead(one.config, one.platform, one.shapes, one.workdir)  # 1 leaves it all to the worker
    finally:
        one.close()
    assert baseline_ahead.MAX_COMPILE_THREADS >= 1


class _FakeAhead:
    """Records what the evaluator does with its children (AheadCompile's interface, no processes)."""

    events: list[str] = []
    fail_go = False

    def __init__(self, worker, shapes, baseline, procs, timeout_s):
        self.worker, self.timeout_s = worker, timeout_s
        _FakeAhead.events.append(f"start {len(shapes)} shapes")

    def go(self):
        _FakeAhead.events.append("go")
        if _FakeAhead.fail_go:
            raise SandboxError("the device is gone")

    def close(self):  # the worker's dir must still exist: a child closed later would write into a deleted dir
        _FakeAhead.events.append(f"close, worker dir there: {Path(self.worker.tmpdir).exists()}")


def test_the_evaluator_starts_children_with_the_worker_lets_them_go_at_the_gate_and_closes_them_first(
        tmp_path, monkeypatch):
    from kernelevolve.eval import evaluator
    from kernelevolve.eval.config import EvalConfig
    from kernelevolve.eval.evaluator import Evaluator

    monkeypatch.setattr(evaluator, "compiles_ahead", lambda *a: True)
    monkeypatch.setattr(evaluator, "AheadCompile", _FakeAhead)
    config = EvalConfig(worker_start_timeout_s=60.0, spare_worker=False)
    _FakeAhead.events = []
    with Evaluator(load_task("conv1d"), platform="cpu", config=config, workdir=tmp_path / "ok") as ev:
        ev.start()
        assert ev._ahead is None
    assert _FakeAhead.events == [f"start {len(ev.shapes)} shapes", "go", "close, worker dir there: True"]
    _FakeAhead.events, _FakeAhead.fail_go = [], True
    try:
        with Evaluator(load_task("conv1d"), platform="cpu", config=config, workdir=tmp_path / "bad") as ev, \
                pytest.raises(SandboxError, match="the device is gone"):
            ev.start()
    finally:
        _FakeAhead.fail_go = False
    assert _FakeAhead.events == [f"start {len(ev.shapes)} shapes", "go", "close, worker dir there: True"]
