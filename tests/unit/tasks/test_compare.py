"""compare(): exact, allclose and relative-L2 modes, with shape, dtype and NaN checks."""

from __future__ import annotations

import torch

from kernelevolve.tasks import Tolerance
from kernelevolve.tasks.compare import compare


def test_exact_counts_differences_and_checks_dtype():
    ref = torch.tensor([1, 2, 3])
    assert compare(ref.clone(), ref, Tolerance(exact=True)).ok
    result = compare(torch.tensor([1, 0, 0]), ref, Tolerance(exact=True))
    assert not result.ok and result.mismatched == 2
    assert "dtype" in compare(ref.int(), ref, Tolerance(exact=True), check_dtype=False).reason


def test_allclose_uses_atol_plus_rtol_times_reference():
    ref = torch.tensor([100.0, -1.0])
    tol = Tolerance(atol=0.1, rtol=0.01)
    assert compare(torch.tensor([101.0, -1.1]), ref, tol).ok
    result = compare(torch.tensor([101.2, -1.0]), ref, tol)
    assert not result.ok and result.mismatched == 1 and abs(result.max_abs - 1.2) < 1e-4


def test_rel_l2_replaces_allclose():
    ref = torch.ones(100)
    out = ref.clone()
    out[0] = 1.5  # one element far off, small relative L2 error
    assert compare(out, ref, Tolerance(rel_l2=0.06)).ok
    assert not compare(out, ref, Tolerance(rel_l2=0.04)).ok


def test_shape_nan_and_inf_mismatches_fail():
    tol = Tolerance(atol=1.0, rtol=1.0)
    assert "shape" in compare(torch.zeros(2, 3), torch.zeros(3, 2), tol).reason
    assert "NaN" in compare(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 1.0]), tol).reason
    assert compare(torch.tensor([float("nan"), 1.0]), torch.tensor([float("nan"), 1.0]), tol).ok
    assert not compare(torch.tensor([float("inf")]), torch.tensor([1.0]), tol).ok
    assert compare(torch.tensor([1.0], dtype=torch.float16), torch.tensor([1.0]), tol, check_dtype=False).ok
