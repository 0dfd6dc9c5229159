"""Output checks: tolerances (allclose, rel_l2, exact), NaN handling, structure, aliasing, mutation."""

from __future__ import annotations

import pytest
import torch

from kernelevolve.core.types import EvalStatus
from kernelevolve.eval.correctness import (
    CaseId,
    CheckFailed,
    as_outputs,
    check_inputs_unchanged,
    check_no_alias,
    check_structure,
    compare,
)
from kernelevolve.tasks.spec import Tolerance

CASE = CaseId(shape="s", seed=7, label="seed")
TOL = Tolerance(atol=1e-4, rtol=5e-4)


def test_within_tolerance_passes_and_just_outside_fails_with_stats():
    ref = torch.tensor([[0.0, 1.0, -2.0], [3.0, 4.0, 5.0]])
    assert compare(ref + 9e-5, ref, TOL, CASE, 0) is None
    bad = ref.clone()
    bad[1, 2] += 0.01
    mismatch = compare(bad, ref, TOL, CASE, 0)
    assert mismatch is not None
    assert mismatch.first_bad_index == [1, 2]
    assert mismatch.frac_mismatched == pytest.approx(1 / 6)
    assert mismatch.max_abs_err == pytest.approx(0.01, rel=1e-3)
    assert mismatch.seed == 7 and mismatch.shape == "s"


def test_nan_matches_nan_but_not_a_number():
    ref = torch.tensor([float("nan"), 1.0])
    assert compare(torch.tensor([float("nan"), 1.0]), ref, TOL, CASE, 0) is None
    assert compare(torch.tensor([0.0, 1.0]), ref, TOL, CASE, 0) is not None
    assert compare(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 1.0]), TOL, CASE, 0) is not None


def test_fp16_output_is_compared_in_fp32_against_upcast_reference():
    ref = torch.tensor([0.1234567, -0.0456789])
    assert compare(ref.half(), ref, Tolerance(atol=1e-4, rtol=5e-4), CASE, 0) is None
    assert compare(ref.bfloat16(), ref, Tolerance(atol=1e-5, rtol=1.3e-6), CASE, 0) is not None


def test_rel_l2_bound_tolerates_spread_error_but_not_a_large_one():
    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(1000, generator=gen)
    tol = Tolerance(atol=0.0, rtol=0.0, rel_l2=1e-3)
    assert compare(ref * (1 + 1e-4), ref, tol, CASE, 0) is None
    assert compare(ref * 1.01, ref, tol, CASE, 0) is not None


def test_exact_comparison_for_integers_reports_the_first_difference():
    ref = torch.tensor([1, 2, 3, 4])
    assert compare(ref.clone(), ref, Tolerance(exact=True), CASE, 0) is None
    mismatch = compare(torch.tensor([1, 2, 5, 4]), ref, Tolerance(exact=True), CASE, 0)
    assert mismatch is not None and mismatch.first_bad_index == [2]


@pytest.mark.parametrize(("expected", "device", "words"), [
    ([((3, 2), torch.float32)], "cpu", "output 0 has shape (2, 3), expected (3, 2)"),
    ([((2, 3), torch.float16)], "cpu", "output 0 has dtype torch.float32, expected torch.float16"),
    ([((2, 3), torch.float32)] * 2, "cpu", "1 outputs, expected 2"),
    ([((2, 3), torch.float32)], "meta", "output 0 is on cpu, expected meta"),
])
def test_structure_checks_count_shape_dtype_and_device(expected, device: str, words: str):
    out = (torch.zeros(2, 3),)
    check_structure(out, [((2, 3), torch.float32)], torch.device("cpu"), CASE)
    with pytest.raises(CheckFailed) as info:
        check_structure(out, expected, torch.device(device), CASE)
    assert info.value.status is EvalStatus.INCORRECT
    assert info.value.reason == f"{CASE}: {words}"


def test_outputs_must_be_plain_tensors():
    class Sub(torch.Tensor):
        pass

    pair = [torch.zeros(1), torch.ones(2)]
    assert as_outputs(pair, CASE) == tuple(pair) and as_outputs(tuple(pair), CASE) == tuple(pair)
    assert as_outputs(pair[1], CASE) == (pair[1],)
    for value, name in ((torch.zeros(2).as_subclass(Sub), "Sub"), (3.0, "float"), (None, "NoneType")):
        with pytest.raises(CheckFailed) as info:
            as_outputs([torch.zeros(1), value], CASE)
        assert info.value.status is EvalStatus.INCORRECT
        assert info.value.reason == f"{CASE}: output 1 is {name}, expected a plain torch.Tensor"


def test_alias_of_an_input_view_is_detected():
    x = torch.arange(10.0)
    check_no_alias((x.clone(), torch.empty(0)), [x, 3, torch.empty(0)], CASE)  # non-tensor and empty inputs pass
    for alias in (x[3:5], x[9:]):  # a one-element view too
        with pytest.raises(CheckFailed) as info:
            check_no_alias((x.clone(), alias), [torch.ones(2), x], CASE)
        assert info.value.status is EvalStatus.INTEGRITY_VIOLATION
        assert info.value.reason == f"{CASE}: output 1 aliases an input's memory; return a new tensor"
    one = torch.ones(1)
    for outputs in ((one,), (torch.empty(0), x[3:5])):  # a one-element input; an alias after an empty output
        with pytest.raises(CheckFailed):
            check_no_alias(outputs, [one, x], CASE)
    neighbour = torch.arange(20.0)
    check_no_alias((neighbour[10:].clone(),), [neighbour[:10].clone()], CASE)  # separate storages never overlap


def test_mutated_input_is_detected_nan_inputs_are_not_false_alarms():
    original = torch.tensor([1.0, float("nan"), 3.0])
    check_inputs_unchanged([original.clone(), 4], [original, 4], CASE)
    touched = original.clone()
    touched[0] = 1.0000001
    wide = torch.tensor([1.0, 2.0], dtype=torch.float64)
    tiny = wide.clone()
    tiny[1] += 1e-12  # below isclose's default atol: only an exact comparison sees it
    for slots, originals in (([4, touched], [4, original]), ([tiny], [wide]), ([torch.tensor([1, 5])], [torch.tensor([1, 2])]),
                             ([torch.zeros(2)], [torch.zeros(3)]), ([torch.zeros(2, dtype=torch.float64)], [torch.zeros(2)])):
        with pytest.raises(CheckFailed) as info:
            check_inputs_unchanged(slots, originals, CASE)
        index = len(slots) - 1
        assert info.value.status is EvalStatus.INTEGRITY_VIOLATION
        assert info.value.reason == f"{CASE}: input {index} was modified by the candidate; inputs are read-only"
    check_inputs_unchanged([torch.tensor([1, 2])], [torch.tensor([1, 2])], CASE)


def test_rel_l2_failure_with_every_element_isclose_still_reports_stats():
    ref = torch.ones(3, 5)
    got = ref + 0.009  # each element within atol/rtol 1e-2, yet rel_l2 0.009 > 1e-3
    found = compare(got, ref, Tolerance(atol=1e-2, rtol=1e-2, rel_l2=1e-3), CASE, 0)
    assert found is not None
    assert "rel_l2" in found.detail
    assert found.frac_mismatched == 0.0
    assert len(found.first_bad_index) == 2 and found.max_abs_err == pytest.approx(0.009, rel=1e-3)


BOUNDARY = Tolerance(atol=1e-3, rtol=1e-2)  # 10x apart, so swapping them moves every boundary below


@pytest.mark.parametrize(("ref", "err", "ok"), [
    (0.0, 9e-4, True),  # at a zero reference only atol counts
    (0.0, 2e-3, False),  # beyond atol (rtol taken as the absolute bound would accept it)
    (10.0, 0.1, True),  # within 1e-3 + 1e-2 * 10 = 0.101 (swapped: 1e-2 + 1e-3 * 10 = 0.02 rejects)
    (10.0, 0.102, False),  # just beyond it
    (-10.0, -0.1, True),  # the reference's magnitude, not its sign
    (-10.0, -0.102, False),
])
def test_tolerance_is_atol_plus_rtol_times_the_reference_magnitude(ref: float, err: float, ok: bool):
    refs = torch.tensor([1.0, ref, -3.0], dtype=torch.float64)
    out = refs.clone()
    out[1] += err
    found = compare(out, refs, BOUNDARY, CASE, 0)
    assert (found is None) is ok, found
    if found is not None:
        assert found.first_bad_index == [1] and "atol 0.001 rtol 0.01" in found.detail
