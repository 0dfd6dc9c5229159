"""Compiled kernels cross from one sandboxed process to another only when no other candidate can have made them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kernelevolve.eval import kernel_cache
from kernelevolve.eval.kernel_cache import BoundCache, private_cache, publish_warm
from kernelevolve.eval.sandbox import ReplyKind, WorkerProcess
from kernelevolve.eval.wire.messages import Hello

SOURCE_A, SOURCE_B = "class ModelNew: pass  # a\n", "class ModelNew: pass  # b\n"


def _compile(cache: BoundCache, key: str, body: str = "cubin") -> Path:
    """Stands in for Triton writing one cache entry (a key dir holding the kernel's files)."""
    entry = cache.triton / key / "_kernel.cubin"
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(body)
    return entry


def _after_the_clock_ticks_past(path: Path) -> None:
    """Returns once a new file's ctime differs from `path`'s (file times follow the kernel's coarse clock)."""
    probe = path.with_name(".probe")
    for _ in range(100_000):
        probe.write_text("")
        if os.lstat(probe).st_ctime_ns != os.lstat(path).st_ctime_ns:
            probe.unlink()
            return
    raise AssertionError("the file clock never moved")


def test_kernels_made_for_one_source_reach_only_a_process_serving_that_source(tmp_path: Path):
    producer = BoundCache(private_cache(tmp_path, tmp_path / "precompile_1"), tmp_path)
    producer.bind(SOURCE_A)
    _compile(producer, "k1")
    assert producer.publish() == 1
    other = BoundCache(private_cache(tmp_path, tmp_path / "worker_b"), tmp_path)
    assert other.bind(SOURCE_B) == 0 and not other.triton.exists()
    judge = BoundCache(private_cache(tmp_path, tmp_path / "worker_a"), tmp_path)
    assert judge.bind(SOURCE_A) == 1
    assert (judge.triton / "k1" / "_kernel.cubin").read_text() == "cubin"
    assert not (judge.triton / "k1" / "_kernel.cubin").samefile(producer.triton / "k1" / "_kernel.cubin")


def test_only_files_made_while_serving_a_source_are_published_under_its_name(tmp_path: Path):
    cache = BoundCache(private_cache(tmp_path, tmp_path / "worker"), tmp_path)
    cache.bind(SOURCE_A)
    _compile(cache, "made_for_a")
    cache.publish()
    cache.bind(SOURCE_B)  # the same process serves another candidate next
    _compile(cache, "made_for_b")
    assert cache.publish() == 1
    shared = tmp_path / "cache" / "by_source"
    assert sorted(p.parent.name for p in (shared / kernel_cache.source_digest(SOURCE_B)).rglob("*.cubin")) == \
        ["made_for_b"]
    assert sorted(p.parent.name for p in (shared / kernel_cache.source_digest(SOURCE_A)).rglob("*.cubin")) == \
        ["made_for_a"]
    assert cache.publish() == 0  # nothing new since


def test_publishing_never_replaces_a_shared_file_nor_follows_a_link(tmp_path: Path):
    first = BoundCache(private_cache(tmp_path, tmp_path / "w1"), tmp_path)
    first.bind(SOURCE_A)
    _compile(first, "k", "honest")
    first.publish()
    second = BoundCache(tmp_path / "w2" / "cache", tmp_path)
    second.bind(SOURCE_A)
    (second.triton / "k" / "_kernel.cubin").write_text("planted later")
    (second.triton / "link").mkdir()
    os.symlink("/etc/hostname", second.triton / "link" / "x.json")
    second.publish()
    shared = tmp_path / "cache" / "by_source" / kernel_cache.source_digest(SOURCE_A)
    assert (shared / "k" / "_kernel.cubin").read_text() == "honest"
    assert not (shared / "link").exists()


def test_the_warm_snapshot_seeds_new_processes_and_keeps_its_first_files(tmp_path: Path):
    cache = private_cache(tmp_path, tmp_path / "w1")
    (cache / "inductor" / "fx").mkdir(parents=True)
    (cache / "inductor" / "fx" / "graph.py").write_text("baseline")
    assert publish_warm(cache, tmp_path) == 1
    (cache / "inductor" / "fx" / "graph.py").write_text("changed after a candidate ran")
    assert publish_warm(cache, tmp_path) == 0
    seeded = private_cache(tmp_path, tmp_path / "w2")
    assert (seeded / "inductor" / "fx" / "graph.py").read_text() == "baseline"


def test_a_process_serving_a_new_source_keeps_no_file_an_earlier_candidate_planted_or_rewrote(tmp_path: Path):
    cache = BoundCache(private_cache(tmp_path, tmp_path / "worker"), tmp_path)
    baseline = _compile(cache, "baseline_kernel", "compiled at the handshake")
    cache.trust()  # the handshake ended: no candidate has run yet
    cache.bind(SOURCE_A)
    _compile(cache, "key_of_b", "planted by a")  # a guesses a kernel key b will look up
    baseline.write_text("rewritten by a")  # and poisons a file the handshake left
    os.symlink(tmp_path / "elsewhere", cache.triton / "linked_dir")
    unchanged = _compile(cache, "a_own", "a's kernel")
    cache.publish()
    cache.bind(SOURCE_B)
    assert not list((cache.triton / "key_of_b").rglob("*.cubin"))
    assert not baseline.exists() and not (cache.triton / "linked_dir").is_symlink() and not unchanged.exists()
    untouched = BoundCache(private_cache(tmp_path, tmp_path / "w2"), tmp_path)
    kept = _compile(untouched, "baseline_kernel", "compiled at the handshake")
    untouched.trust()
    untouched.bind(SOURCE_A)
    untouched.bind(SOURCE_B)
    assert kept.read_text() == "compiled at the handshake"  # what no candidate touched stays (no recompile)


def test_warm_files_a_candidate_rewrote_come_back_from_the_snapshot_at_the_next_bind(tmp_path: Path):
    first = private_cache(tmp_path, tmp_path / "w1")
    (first / "inductor").mkdir(parents=True)
    (first / "inductor" / "graph.py").write_text("baseline")
    publish_warm(first, tmp_path)
    cache = BoundCache(private_cache(tmp_path, tmp_path / "w2"), tmp_path)
    cache.bind(SOURCE_A)
    _after_the_clock_ticks_past(cache.cache / "inductor" / "graph.py")
    (cache.cache / "inductor" / "graph.py").write_text("BASELINE")  # same inode, same size: only the ctime tells
    cache.bind(SOURCE_B)
    assert (cache.cache / "inductor" / "graph.py").read_text() == "baseline"


# Through real sandboxed processes (the stand-in worker tests/unit/eval/cache_worker.py, jailed like a real one),
# with the run's workdir relative as a search's is (runs/<id>/eval) and each process in its own private dir.

@contextmanager
def _worker(workdir: Path, *, baseline: bool = False) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(task_path=Path("unused.py"), platform="cpu", env_extra={}, workdir=workdir,
                           address_space_gb=0.0, memory_limit_gb=0.0, block_network=False,
                           module="tests.unit.eval.cache_worker")
    try:
        worker.send_hello(Hello(baseline="compile" if baseline else ""))
        worker.handshake(60)
        yield worker
    finally:
        worker.close()


def _serve(worker: WorkerProcess, source: str) -> dict[str, Any]:
    reply = worker.request({"kind": "job", "source": source}, 60)
    assert reply.kind is ReplyKind.RESULT, (reply.kind, reply.detail, worker.log_tail())
    return reply.payload["result"]


def _info(worker: WorkerProcess) -> dict[str, Any]:
    """Returns how the stand-in started: autotuned, cwd, paths."""
    reply = worker.request({"kind": "job", "info": True}, 60)
    assert reply.kind is ReplyKind.RESULT, (reply.kind, reply.detail, worker.log_tail())
    return reply.payload["result"]


@pytest.fixture
def run_dir(monkeypatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    workdir = Path("runs") / "r1" / "eval"
    workdir.mkdir(parents=True)
    return workdir


def test_the_judge_loads_what_a_compile_only_worker_compiled_for_the_same_candidate(run_dir: Path):
    candidate = "KERNEL conv\nKERNEL epilogue\n"
    with _worker(run_dir) as precompile:
        assert _serve(precompile, candidate)["compiled"] == ["conv", "epilogue"]
    with _worker(run_dir, baseline=True) as judge:
        judged = _serve(judge, candidate)
    assert judged["compiled"] == []  # no JIT on the device slot: both kernels came from the precompile
    assert judged["loaded"] == {"conv": "compiled conv", "epilogue": "compiled epilogue"}


def test_a_new_worker_of_a_run_does_not_autotune_the_baselines_again(run_dir: Path):
    with _worker(run_dir, baseline=True) as first:
        assert _info(first)["autotuned"] is True
        _serve(first, "KERNEL a\n")
    with _worker(run_dir, baseline=True) as second, _worker(run_dir, baseline=True) as third:
        assert _info(second)["autotuned"] is False and _info(third)["autotuned"] is False


def test_every_cache_path_a_worker_gets_is_absolute_and_its_own_and_only_the_runs_cache_is_shared(run_dir: Path):
    with _worker(run_dir, baseline=True) as judge, _worker(run_dir) as precompile:
        _serve(precompile, "KERNEL k\n")
        info = {worker: _info(worker) for worker in (judge, precompile)}
        for worker in (judge, precompile):
            paths = {name: Path(value) for name, value in info[worker]["paths"].items()}
            assert all(p.is_absolute() for p in paths.values()), paths
            assert Path(info[worker]["cwd"]) == worker.tmpdir.resolve()
            for name in ("TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR"):  # private: under its own dir, nowhere else
                assert paths[name].parent.parent == worker.tmpdir.resolve(), (name, paths[name])
        assert info[judge]["paths"]["TRITON_CACHE_DIR"] != info[precompile]["paths"]["TRITON_CACHE_DIR"]
        shared = run_dir.resolve() / "cache"  # what crosses between the run's processes, written by the evaluator
        assert (shared / "warm" / "inductor" / "fxgraph" / "baseline.best_config").is_file()
        assert [p.name for p in (shared / "by_source").iterdir()] == [kernel_cache.source_digest("KERNEL k\n")]


def test_a_candidate_cannot_poison_a_kernel_another_candidate_or_the_baseline_loads(run_dir: Path):
    hostile = "PLANT conv poisoned\nPLANT baseline_relu poisoned\nKERNEL helper\n"
    honest = "KERNEL conv\nKERNEL baseline_relu\n"  # shares kernel names (keys) with what was planted
    with _worker(run_dir) as precompile:
        _serve(precompile, hostile)
        assert _serve(precompile, honest)["compiled"] == ["conv", "baseline_relu"]  # same process, next candidate
    with _worker(run_dir, baseline=True) as judge:
        assert _serve(judge, hostile)["loaded"] == {"helper": "compiled helper"}
        judged = _serve(judge, honest)  # the judge served the hostile one first, in this very process
    assert judged["loaded"] == {"conv": "compiled conv", "baseline_relu": "compiled baseline_relu"}
    with _worker(run_dir) as fresh:  # a process that never saw the hostile candidate, seeded from the run
        assert _serve(fresh, honest)["loaded"] == {"conv": "compiled conv", "baseline_relu": "compiled baseline_relu"}


def test_a_worker_whose_cache_cannot_be_cleared_serves_no_other_candidate(run_dir: Path, monkeypatch):
    def refuse(path: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    with _worker(run_dir) as worker:
        _serve(worker, "PLANT conv poisoned\n")
        monkeypatch.setattr(kernel_cache, "_remove", refuse)
        reply = worker.collect(worker.post({"kind": "job", "source": "KERNEL conv\n"}), 60)
        assert reply.kind is ReplyKind.DIED and not worker.alive()  # the evaluator retries in a fresh worker


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and removes whatever the permissions say")
def test_a_dir_a_candidate_locked_is_reopened_and_cleared(tmp_path: Path):
    cache = BoundCache(private_cache(tmp_path, tmp_path / "worker"), tmp_path)
    cache.bind(SOURCE_A)
    planted = _compile(cache, "key_of_b", "planted by a")
    planted.parent.chmod(0o000)
    cache.bind(SOURCE_B)
    assert not planted.exists()


def test_a_later_run_starts_from_the_warm_snapshot_an_earlier_run_left_on_the_machine(tmp_path: Path):
    """Run 1's warm snapshot (candidate-free baselines) reaches run 2's new processes through the machine-wide
    cache; kernels bound to a candidate's source never leave their run, and no file is ever replaced."""
    machine = kernel_cache.machine_snapshot(str(tmp_path / "compiled"), "ab" * 32)
    assert machine is not None and machine.parent.name.startswith("torch-") and machine.name == "ab" * 8
    assert kernel_cache.machine_snapshot("", "ab" * 32) is None
    run1, run2 = tmp_path / "run1", tmp_path / "run2"
    worker = BoundCache(private_cache(run1, run1 / "worker_1"), run1)
    baseline = worker.cache / "inductor" / "fxgraph" / "graph_1"
    baseline.parent.mkdir(parents=True)
    baseline.write_text("compiled baseline")
    assert publish_warm(worker.cache, run1) == 1  # the handshake: no candidate has run yet
    worker.trust()
    worker.bind(SOURCE_A)
    _compile(worker, "made_for_a")
    worker.publish()
    assert kernel_cache.publish_machine(run1, machine) == 1
    assert kernel_cache.publish_machine(run1, machine) == 0  # nothing missing the second time
    (run2 / "cache" / "warm" / "inductor" / "fxgraph").mkdir(parents=True)
    (run2 / "cache" / "warm" / "inductor" / "fxgraph" / "graph_1").write_text("run 2's own")
    assert kernel_cache.seed_run(machine, run2) == 0  # an existing file is never replaced
    (run2 / "cache" / "warm" / "inductor" / "fxgraph" / "graph_1").unlink()
    assert kernel_cache.seed_run(machine, run2) == 1
    fresh = private_cache(run2, run2 / "worker_1")
    assert (fresh / "inductor" / "fxgraph" / "graph_1").read_text() == "compiled baseline"
    assert not any(p.name == "_kernel.cubin" for p in machine.rglob("*"))
    assert not (fresh / "triton" / "made_for_a").exists()


def _triton_entry(cache: BoundCache, key: str) -> None:
    """Writes a kernel entry as Triton's FileCacheManager does: its files and a group file naming them by
    absolute path in this cache."""
    entry = cache.triton / key
    entry.mkdir(parents=True, exist_ok=True)
    children = {}
    for name in ("_kernel.cubin", "_kernel.json"):
        (entry / name).write_text(name)
        children[name] = str(entry / name)
    (entry / "__grp___kernel.json").write_text(json.dumps({"child_paths": children}))


def test_triton_finds_a_handed_over_kernel_in_its_own_cache_after_the_producer_reset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Triton looks a kernel up through its group file's absolute paths. Handed over verbatim, they name the
    compile-only worker's private dir, so the judge misses (and compiles again) once that worker's cache was
    reset for its next candidate; the copy must point at the judge's own files."""
    from triton.runtime.cache import FileCacheManager

    producer = BoundCache(private_cache(tmp_path, tmp_path / "precompile_1"), tmp_path)
    producer.bind(SOURCE_A)
    _triton_entry(producer, "k1")
    assert producer.publish() == 3
    producer.bind(SOURCE_B)  # its next candidate: SOURCE_A's files are removed from its cache
    assert not any(p.is_file() for p in (producer.triton / "k1").iterdir())
    judge = BoundCache(private_cache(tmp_path, tmp_path / "worker_1"), tmp_path)
    assert judge.bind(SOURCE_A) == 3
    monkeypatch.setenv("TRITON_CACHE_DIR", str(judge.triton))
    found = FileCacheManager("k1").get_group("_kernel.json")
    assert found == {name: str(judge.triton / "k1" / name) for name in ("_kernel.cubin", "_kernel.json")}


def test_a_group_file_triton_could_not_read_is_not_handed_over(tmp_path: Path):
    producer = BoundCache(private_cache(tmp_path, tmp_path / "precompile_1"), tmp_path)
    producer.bind(SOURCE_A)
    _triton_entry(producer, "k1")
    (producer.triton / "k1" / "__grp___kernel.json").write_text("not json")
    (producer.triton / "k2").mkdir()
    (producer.triton / "k2" / "__grp___x.json").write_text(json.dumps({"child_paths": {"x": "/etc/passwd/.."}}))
    producer.publish()
    judge = BoundCache(private_cache(tmp_path, tmp_path / "worker_1"), tmp_path)
    judge.bind(SOURCE_A)
    assert not (judge.triton / "k1" / "__grp___kernel.json").exists()  # a miss: Triton compiles again
    assert (judge.triton / "k1" / "_kernel.cubin").exists()
    assert json.loads((judge.triton / "k2" / "__grp___x.json").read_text()) == {"child_paths": {}}
