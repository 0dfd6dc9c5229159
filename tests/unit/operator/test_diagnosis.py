"""Diagnosis turns verdict numbers into findings: error lines, tail mismatches, roofline position."""

from __future__ import annotations

import pytest

from kernelevolve.core.types import EvalResult, EvalStatus, Mismatch, ShapeTiming
from kernelevolve.operator.diagnosis import FindingKind, diagnose

SOURCE = "import triton\n\n@triton.jit\ndef _k(x):\n    y = x +\n    return y\n"


def _mismatch(frac, abs_err=0.1, shape="tail"):
    return EvalResult(status=EvalStatus.INCORRECT, reason="mismatch",
                      mismatch=Mismatch(shape=shape, seed=2, output_index=0, max_abs_err=abs_err, max_rel_err=0.5,
                                        frac_mismatched=frac, first_bad_index=[0, 3, 36]))


def test_compile_error_names_the_candidate_line_not_library_frames():
    error = ('Traceback (most recent call last):\n  File "/x/site-packages/triton/jit.py", line 900, in run\n'
             '  File "/tmp/w/kernel_3.py", line 5, in <module>\nSyntaxError: invalid syntax')
    [finding] = diagnose(EvalResult(status=EvalStatus.COMPILE_ERROR, error=error), SOURCE)
    assert finding.kind is FindingKind.compile_error
    assert "line 5" in finding.message and "`y = x +`" in finding.message and "invalid syntax" in finding.message


def test_triton_position_is_mapped_through_the_jit_function():
    error = "triton.compiler.errors.CompilationError: at 2:4:\nNameError: y is not defined"
    [finding] = diagnose(EvalResult(status=EvalStatus.COMPILE_ERROR, error=error), SOURCE)
    assert "line 5" in finding.message


def test_few_wrong_elements_point_at_tails():
    [finding] = diagnose(_mismatch(0.01), SOURCE, {"tail": {"B": 3, "L": 37, "dtype": "float16"}})
    assert finding.kind is FindingKind.wrong_tail and "masks" in finding.message


def test_mostly_wrong_points_at_indexing():
    [finding] = diagnose(_mismatch(0.9), SOURCE)
    assert finding.kind is FindingKind.wrong_values and "90.00%" in finding.message


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_errors_are_nan_findings(bad):
    assert diagnose(_mismatch(0.5, abs_err=bad), SOURCE)[0].kind is FindingKind.nan_output


def _ok(metrics, ms=1.0, platform="cuda"):
    return EvalResult(status=EvalStatus.OK, fitness=1.2, platform=platform, metrics=metrics,
                      timings=[ShapeTiming(shape="big", candidate_ms=ms, candidate_iqr_ms=0.01, baseline_ms=ms * 1.5),
                               ShapeTiming(shape="small", candidate_ms=ms, candidate_iqr_ms=0.01, baseline_ms=ms * 0.9)])


def test_memory_bound_reports_the_fraction_of_peak():
    findings = diagnose(_ok({"dram_bw_frac": 0.35, "flops_frac": 0.1}), SOURCE)
    assert findings[0].kind is FindingKind.memory_bound and "35%" in findings[0].message
    findings = diagnose(_ok({"dram_bw_frac": 0.85}), SOURCE)
    assert findings[0].kind is FindingKind.memory_bound and "near the roof" in findings[0].message
    findings = diagnose(_ok({"dram_bw_frac": 0.2, "flops_frac": 0.7}), SOURCE)
    assert findings[0].kind is FindingKind.compute_bound and "70%" in findings[0].message


def test_tiny_runtime_is_launch_bound_on_gpu_only():
    assert diagnose(_ok({}, ms=0.005), SOURCE)[0].kind is FindingKind.launch_bound
    assert FindingKind.launch_bound not in {f.kind for f in diagnose(_ok({}, ms=0.005, platform="cpu"), SOURCE)}


def test_spills_and_time_outside_triton_and_weakest_shape():
    kinds = [f for f in diagnose(_ok({"spill_bytes": 64, "triton_time_fraction": 0.5}), SOURCE)]
    assert {FindingKind.register_spills, FindingKind.outside_triton} <= {f.kind for f in kinds}
    weakest = next(f for f in kinds if f.kind is FindingKind.slowest_shape)
    assert "small" in weakest.message  # ratio 0.9 < 1.5


@pytest.mark.parametrize("status,kind", [(EvalStatus.TIMEOUT, FindingKind.timeout),
                                         (EvalStatus.CRASHED, FindingKind.crash),
                                         (EvalStatus.INTEGRITY_VIOLATION, FindingKind.integrity)])
def test_other_failures_have_a_finding(status, kind):
    assert diagnose(EvalResult(status=status, reason="r"), SOURCE)[0].kind is kind


def test_unevaluated_parent():
    assert diagnose(None, SOURCE)[0].kind is FindingKind.unevaluated


def test_ncu_counters_join_the_roofline_finding_and_stand_in_for_a_missing_bandwidth():
    findings = diagnose(_ok({"dram_bw_frac": 0.35, "ncu.dram_pct": 87.4, "ncu.sm_pct": 5.1,
                             "ncu.occupancy_pct": 80.8}), SOURCE)
    assert findings[0].kind is FindingKind.memory_bound and "35%" in findings[0].message
    assert "ncu counters: DRAM throughput 87%, SM throughput 5%, achieved occupancy 81%" in findings[0].message
    findings = diagnose(_ok({"ncu.dram_pct": 72.0}), SOURCE)
    assert findings[0].kind is FindingKind.memory_bound and "at 72% of peak" in findings[0].message
    assert "ncu counters" not in diagnose(_ok({"dram_bw_frac": 0.35}), SOURCE)[0].message
