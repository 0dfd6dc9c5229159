"""The baseline-time cache: keying, merging concurrent writers, drift flags (plain Python, no device)."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from pathlib import Path

import pytest

from kernelevolve.core.types import EvalResult, EvalStatus, ShapeTiming
from kernelevolve.eval import baseline_cache as bc
from kernelevolve.eval.commands import verdict_json
from kernelevolve.eval.config import EvalConfig, ShapeSetChoice
from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.eval.wire.messages import Ready
from kernelevolve.tasks.loader import load_task

KEY = bc.BaselineKey(task_sha256="ab" * 32, shape="s1", dtypes=("float16", "float16"), device="NVIDIA H100",
                     torch="2.11.0", triton="3.6.0", kind="compile")


def _key(**changes: object) -> bc.BaselineKey:
    return dataclasses.replace(KEY, **changes)


def _result(**baseline_ms: float) -> EvalResult:
    timings = [ShapeTiming(shape=s, candidate_ms=1.0, candidate_iqr_ms=0.01, baseline_ms=ms, baseline_iqr_ms=0.01,
                           baseline_name="compile:cuda_events") for s, ms in baseline_ms.items()]
    return EvalResult(status=EvalStatus.OK, reason="correct", fitness=1.7, timings=timings,
                      metrics={"triton_launches": 1.0}, platform="cuda")


def test_every_key_field_separates_entries(tmp_path):
    variants = [_key(task_sha256="cd" * 32), _key(shape="s2"), _key(dtypes=("bfloat16", "float16")),
                _key(dtypes=("float16", "bfloat16")), _key(device="NVIDIA H200"), _key(torch="2.13.0"),
                _key(triton="3.7.1"), _key(kind="eager")]
    texts = {k.text for k in [KEY, *variants]}
    assert len(texts) == len(variants) + 1
    cache = bc.BaselineCache(tmp_path / "b.json")
    cache.record({k: float(i + 1) for i, k in enumerate([KEY, *variants])})
    for i, k in enumerate([KEY, *variants]):
        assert cache.get(k).samples_ms == (float(i + 1),)
    stored = json.loads((tmp_path / "b.json").read_text())
    assert stored["entries"][KEY.text]["fields"]["dtypes"] == ["float16", "float16"]


def test_record_keeps_newest_samples_and_drops_bad_values(tmp_path):
    cache = bc.BaselineCache(tmp_path / "deep" / "dir" / "b.json")  # parents are created
    assert cache.get(KEY) is None
    for i in range(bc.MAX_SAMPLES + 5):
        cache.record({KEY: float(i + 1)})
    cache.record({KEY: 0.0})
    cache.record({KEY: -3.0})
    cache.record({KEY: float("nan")})
    samples = cache.get(KEY).samples_ms
    assert len(samples) == bc.MAX_SAMPLES and samples[0] == 6.0 and samples[-1] == bc.MAX_SAMPLES + 5.0
    assert not list((tmp_path / "deep" / "dir").glob("*.tmp"))  # the temporary file was renamed away


def test_two_instances_merge_instead_of_overwriting(tmp_path):
    path = tmp_path / "b.json"
    first, second = bc.BaselineCache(path), bc.BaselineCache(path)
    first.load()  # a stale view in `first` must not matter: record re-reads under the lock
    second.record({KEY: 1.0, _key(shape="s2"): 2.0})
    first.record({KEY: 3.0})
    assert bc.BaselineCache(path).get(KEY).samples_ms == (1.0, 3.0)
    assert bc.BaselineCache(path).get(_key(shape="s2")).samples_ms == (2.0,)


def _write_many(path: str, writer: int, count: int) -> None:
    cache = bc.BaselineCache(path)
    for i in range(count):
        cache.record({_key(shape=f"w{writer}"): float(i + 1), KEY: float(100 * writer + i + 1)})


def test_concurrent_processes_lose_no_sample(tmp_path):
    path = str(tmp_path / "b.json")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(path, w, 8)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    cache = bc.BaselineCache(path)
    for w in range(3):
        assert cache.get(_key(shape=f"w{w}")).samples_ms == tuple(float(i + 1) for i in range(8))
    shared = cache.get(KEY).samples_ms
    assert sorted(shared) == sorted(float(100 * w + i + 1) for w in range(3) for i in range(8))
    for w in range(3):  # each writer's own samples stay in its order
        mine = [s for s in shared if 100 * w < s <= 100 * w + 8]
        assert mine == sorted(mine)


def test_unreadable_or_foreign_file_is_ignored_then_replaced(tmp_path):
    path = tmp_path / "b.json"
    for junk in ("{not json", json.dumps([1, 2]), json.dumps({"version": 99, "entries": {}})):
        path.write_text(junk)
        assert bc.BaselineCache(path).load() == {}
    bc.BaselineCache(path).record({KEY: 2.5})
    assert bc.BaselineCache(path).get(KEY).samples_ms == (2.5,)


def test_drift_needs_enough_samples_and_is_signed():
    assert bc.drift(2.0, None) is None
    assert bc.drift(2.0, bc.CachedBaseline(samples_ms=(1.0,) * (bc.MIN_SAMPLES - 1))) is None
    cached = bc.CachedBaseline(samples_ms=(1.0, 1.0, 9.0, 1.2, 0.8))  # median 1.0: one outlier does not move it
    assert cached.median_ms == 1.0
    assert bc.drift(1.25, cached) == pytest.approx(0.25)
    assert bc.drift(0.8, cached) == pytest.approx(-0.2)


def _fill(cache: bc.BaselineCache, key: bc.BaselineKey, values: list[float]) -> None:
    for v in values:
        cache.record({key: v})


def test_check_result_flags_drift_but_keeps_the_measured_verdict(tmp_path):
    cache = bc.BaselineCache(tmp_path / "b.json")
    k1, k2 = KEY, _key(shape="s2")
    _fill(cache, k1, [1.0, 1.02, 0.98])
    _fill(cache, k2, [2.0, 2.0, 2.0])
    result = _result(s1=1.3, s2=1.9)  # s1 +30% (beyond 15%), s2 -5% (within)
    checked, view = bc.check_result(result, {"s1": k1, "s2": k2}, cache, tolerance=0.15)
    assert checked.fitness == result.fitness and checked.timings == result.timings
    assert checked.metrics["baseline_drift.s1"] == pytest.approx(0.3)
    assert checked.metrics["baseline_drift.s2"] == pytest.approx(-0.05)
    assert checked.metrics["noisy_measurement"] == 1.0 and checked.metrics["triton_launches"] == 1.0
    assert "noisy measurement" in checked.reason and "s1 +30%" in checked.reason and "s2" not in checked.reason
    assert view["s1"]["cached_median_ms"] == 1.0 and view["s1"]["cached_samples"] == 3
    assert view["s1"]["measured_ms"] == 1.3 and view["s1"]["device"] == "NVIDIA H100"
    assert cache.get(k1).samples_ms[-1] == 1.3  # recorded after the comparison, not before


def test_check_result_negative_drift_flags_and_quiet_run_does_not(tmp_path):
    cache = bc.BaselineCache(tmp_path / "b.json")
    _fill(cache, KEY, [1.0, 1.0, 1.0])
    fast, _ = bc.check_result(_result(s1=0.8), {"s1": KEY}, cache, tolerance=0.15)
    assert fast.metrics["noisy_measurement"] == 1.0 and "-20%" in fast.reason
    quiet, _ = bc.check_result(_result(s1=1.1), {"s1": KEY}, cache, tolerance=0.15)
    assert "noisy_measurement" not in quiet.metrics and quiet.reason == "correct"


def test_check_result_with_a_cold_cache_records_but_judges_nothing(tmp_path):
    cache = bc.BaselineCache(tmp_path / "b.json")
    checked, view = bc.check_result(_result(s1=5.0, other=1.0), {"s1": KEY}, cache, tolerance=0.15)
    assert checked.metrics == {"triton_launches": 1.0} and checked.reason == "correct"
    assert view["s1"]["drift"] is None and view["s1"]["cached_median_ms"] is None and "other" not in view
    assert cache.get(KEY).samples_ms == (5.0,)


def test_input_dtypes_follow_the_shape():
    task = load_task("rmsnorm_bwd")
    assert bc.input_dtypes(task, "m3_n17") == ("bfloat16", "bfloat16", "bfloat16", "float32")
    assert bc.input_dtypes(task, "m3_n17_fp32") == ("float32",) * 4


def test_cpu_evaluator_never_touches_the_cache(tmp_path):
    path = tmp_path / "b.json"
    config = EvalConfig(baseline_cache=str(path), shape_set=ShapeSetChoice.small)
    with Evaluator(load_task("rmsnorm_bwd"), platform="cpu", config=config, workdir=tmp_path / "w") as evaluator:
        result = _result(m4_n32=1.0)
        assert evaluator._check_baselines(result) is result
    assert not path.exists() and evaluator.last_baselines == {}


def test_device_evaluator_keys_by_worker_info_and_reports_baselines(tmp_path):
    path = tmp_path / "b.json"
    config = EvalConfig(baseline_cache=str(path), shape_set=ShapeSetChoice.small, baseline_drift_tolerance=0.1)
    task = load_task("rmsnorm_bwd")
    evaluator = Evaluator(task, platform="cuda", config=config, workdir=tmp_path / "w")  # no worker started
    evaluator.worker_info = Ready(device_name="NVIDIA H100 80GB HBM3", torch="2.11.0", triton="3.6.0")
    for ms in (1.0, 1.0, 1.0):
        evaluator._check_baselines(_result(m4_n32=ms))
    checked = evaluator._check_baselines(_result(m4_n32=1.5))
    assert checked.metrics["noisy_measurement"] == 1.0
    view = evaluator.last_baselines["m4_n32"]
    assert view["task_sha256"] == bc.file_sha256(Path(task.path)) and view["kind"] == "compile"
    assert view["device"] == "NVIDIA H100 80GB HBM3" and view["dtypes"] == ["bfloat16"] * 3 + ["float32"]
    out = json.loads(json.dumps(verdict_json(checked, baselines=evaluator.last_baselines)))
    assert out["baselines"]["m4_n32"]["cached_median_ms"] == 1.0 and out["speedup"] == checked.fitness
    failed = EvalResult(status=EvalStatus.INCORRECT, reason="wrong", platform="cuda")
    assert evaluator._check_baselines(failed) is failed and evaluator.last_baselines == {}
    off = Evaluator(task, platform="cuda", config=dataclasses.replace(config, baseline_cache=""), workdir=tmp_path)
    assert off._check_baselines(_result(m4_n32=9.0)).metrics == {"triton_launches": 1.0}
