"""Compiled kernels cross from one sandboxed process to another only when no other candidate can have made them."""

from __future__ import annotations

import os
from pathlib import Path

from kernelevolve.eval import kernel_cache
from kernelevolve.eval.kernel_cache import BoundCache, private_cache, publish_warm

SOURCE_A, SOURCE_B = "class ModelNew: pass  # a\n", "class ModelNew: pass  # b\n"


def _compile(cache: BoundCache, key: str, body: str = "cubin") -> Path:
    """Stands in for Triton writing one cache entry (a key dir holding the kernel's files)."""
    entry = cache.triton / key / "_kernel.cubin"
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(body)
    return entry


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
