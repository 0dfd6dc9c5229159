"""Roofline arithmetic: achieved TFLOP/s and bandwidth against fake peaks, per-worker peak caching."""

from __future__ import annotations

import functools
import types

import pytest
import torch

from kernelevolve.eval.cases import build_shape_cases
from kernelevolve.eval.platforms import get_platform
from kernelevolve.eval.worker import job, measure
from kernelevolve.tasks.loader import load_task
from kernelevolve.tasks.spec import ShapeSet


def test_flops_roofline_arithmetic():
    found = measure.flops_roofline("s", 2 * 10**12, 10.0, peak_tflops=400.0)  # 2 TFLOP in 10 ms
    assert found == {"achieved_tflops.s": pytest.approx(200.0), "flops_fraction.s": pytest.approx(0.5)}
    over = measure.flops_roofline("s", 10**12, 1.0, peak_tflops=500.0)  # a kernel doing less than stated
    assert over["flops_fraction.s"] == pytest.approx(2.0)
    assert measure.flops_roofline("s", 10**12, 2.0, peak_tflops=None) == {"achieved_tflops.s": pytest.approx(500.0)}
    assert measure.flops_roofline("s", None, 1.0, 100.0) == {}
    assert measure.flops_roofline("s", 0, 1.0, 100.0) == {}
    assert measure.flops_roofline("s", 10**9, 0.0, 100.0) == {}


def test_overall_fractions_take_the_largest_share_under_diagnosis_names():
    metrics = {"bandwidth_fraction.a": 0.2, "bandwidth_fraction.b": 0.71, "achieved_gbps.a": 900.0,
               "flops_fraction.a": 0.05, "flops_fraction.c": 0.3, "achieved_tflops.c": 300.0,
               "triton_time_fraction": 0.99}
    assert measure.overall_fractions(metrics) == {"dram_bw_frac": 0.71, "flops_frac": 0.3}
    assert measure.overall_fractions({"bandwidth_fraction.a": 0.4}) == {"dram_bw_frac": 0.4}
    assert measure.overall_fractions({"achieved_gbps.a": 1.0, "triton_time_fraction": 0.5}) == {}


def test_bandwidth_roofline_keeps_its_per_shape_names():
    sc = _cases("rmsnorm_bwd", "m4_n32")  # bf16 x, w, dy + fp32 rstd in; bf16 dx + fp32 dw out
    nbytes = (4 * 32 * 2) * 2 + 32 * 2 + 4 * 4 + 4 * 32 * 2 + 32 * 4
    found = measure.roofline(sc, 1e-3, peak_gbps=2.0)
    assert found["achieved_gbps.m4_n32"] == pytest.approx(nbytes / 1e-6 / 1e9)
    assert found["bandwidth_fraction.m4_n32"] == pytest.approx(nbytes / 1e-6 / 1e9 / 2.0)


def _cases(task_name: str, shape: str):
    """The worker's view of a timed shape: its inputs, and the output structure the referee told it."""
    build = functools.partial(build_shape_cases, load_task(task_name), shape, timed=True, seeds=[0], extra_seed=None,
                              device=torch.device("cpu"))
    sc = build(reference=False)
    sc.expected = build(reference=True).expected  # the referee keeps references, not inputs
    return sc


def test_compute_dtype_is_the_first_floating_input():
    assert measure.compute_dtype(_cases("conv1d", "tail_fp16")) == torch.float16
    assert measure.compute_dtype(_cases("rmsnorm_bwd", "m3_n17")) == torch.bfloat16  # not rstd's fp32
    small = next(iter(load_task("map_id").shapes(ShapeSet.SMALL)))
    assert measure.compute_dtype(_cases("map_id", small)) is None


class _FakeTimer:
    label = "fake_events"

    def __init__(self, ms: float, seen: list[bool]) -> None:
        self.ms, self.seen = ms, seen

    def measure(self, fns):
        for fn in fns.values():
            fn()
        self.seen.append(torch.backends.cuda.matmul.allow_tf32)
        return {name: [self.ms * 1.1, self.ms, self.ms * 0.9] for name in fns}


def _device_ctx(task_name: str, ms: float, seen: list[bool]):
    platform = types.SimpleNamespace(interpreter=False, device=lambda: torch.device("cpu"),
                                     make_timer=lambda **_: _FakeTimer(ms, seen))
    return types.SimpleNamespace(platform=platform, task=load_task(task_name), peaks={})


def test_peak_tflops_times_a_square_matmul_with_tf32_off(monkeypatch):
    monkeypatch.setattr(measure, "PEAK_MATMUL_N", 64)
    seen: list[bool] = []
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        peak = measure.measure_peak_tflops(_device_ctx("conv1d", 2.0, seen), torch.float32)
        assert torch.backends.cuda.matmul.allow_tf32 is True  # restored
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    assert seen == [False]
    assert peak == pytest.approx(2 * 64**3 / 2e-3 / 1e12)
    assert measure.measure_peak_tflops(types.SimpleNamespace(platform=get_platform("cpu")), torch.float32) is None


def test_flops_metrics_measure_each_dtype_peak_once_per_worker(monkeypatch):
    calls: list[torch.dtype] = []

    def fake_peak(ctx, dtype):
        calls.append(dtype)
        return {torch.float16: 800.0, torch.float32: 50.0}[dtype]

    monkeypatch.setattr(measure, "measure_peak_tflops", fake_peak)
    ctx = _device_ctx("conv1d", 1.0, [])
    fp16, fp32 = _cases("conv1d", "tail_fp16"), _cases("conv1d", "tiny")
    first = job._flops_metrics(ctx, fp16, candidate_ms=1e-3)
    job._flops_metrics(ctx, fp16, candidate_ms=1e-3)
    other = job._flops_metrics(ctx, fp32, candidate_ms=1e-3)
    assert calls == [torch.float16, torch.float32]
    stated = 2 * 3 * 7 * 37 * 5 * 3
    assert first["achieved_tflops.tail_fp16"] == pytest.approx(stated / 1e-6 / 1e12)
    assert first["flops_fraction.tail_fp16"] == pytest.approx(stated / 1e-6 / 1e12 / 800.0)
    assert other["flops_fraction.tiny"] == pytest.approx(2 * 2 * 6 * 9 * 4 * 3 / 1e-6 / 1e12 / 50.0)


def test_flops_metrics_skip_tasks_without_a_count(monkeypatch):
    monkeypatch.setattr(measure, "measure_peak_tflops", lambda ctx, dtype: pytest.fail("no peak needed"))
    ctx = _device_ctx("rmsnorm_bwd", 1.0, [])
    assert job._flops_metrics(ctx, _cases("rmsnorm_bwd", "m3_n17"), candidate_ms=0.01) == {}
    assert ctx.peaks == {}
