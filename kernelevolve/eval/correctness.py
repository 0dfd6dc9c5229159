"""Output checks run in the worker: structure, aliasing, unchanged inputs and tolerance comparison.

The torch functions used here are bound when this module is imported, before any candidate code, and
the worker's TaintSnapshot reports a candidate that replaces them (or installs a torch mode).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from kernelevolve.core.errors import CandidateError
from kernelevolve.core.types import EvalStatus, Mismatch
from kernelevolve.tasks.spec import Tolerance

_isclose = torch.isclose
_equal = torch.equal
_isfinite = torch.isfinite
_Tensor = torch.Tensor


class CheckFailed(CandidateError):
    """A candidate failed a check; carries the verdict status, a one-line reason and mismatch statistics."""

    def __init__(self, status: EvalStatus, reason: str, mismatch: Mismatch | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.mismatch = mismatch


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaseId:
    """Which input set a check ran on (for reasons and Mismatch records)."""

    shape: str
    seed: int
    label: str  # "seed" for the task's own distribution, "signflip" for the extra one, "timed call N" for timing

    def __str__(self) -> str:
        return f"shape {self.shape} seed {self.seed} ({self.label})"


def as_outputs(value: Any, case: CaseId) -> tuple[torch.Tensor, ...]:
    """Returns the forward result as a tuple of plain tensors; raises CheckFailed for anything else."""
    items = tuple(value) if isinstance(value, tuple | list) else (value,)
    for index, item in enumerate(items):
        if type(item) is not _Tensor:  # subclasses can override __torch_function__ and fake comparisons
            raise CheckFailed(EvalStatus.INCORRECT,
                              f"{case}: output {index} is {type(item).__name__}, expected a plain torch.Tensor")
    return items


def check_structure(outputs: Sequence[torch.Tensor], expected: Sequence[tuple[tuple[int, ...], torch.dtype]],
                    device: torch.device, case: CaseId) -> None:
    """Raises CheckFailed unless the outputs have the reference's count, shapes, dtypes and device."""
    if len(outputs) != len(expected):
        raise CheckFailed(EvalStatus.INCORRECT, f"{case}: {len(outputs)} outputs, expected {len(expected)}")
    for index, (out, (shape, dtype)) in enumerate(zip(outputs, expected, strict=True)):
        if tuple(out.shape) != tuple(shape):
            raise CheckFailed(EvalStatus.INCORRECT,
                              f"{case}: output {index} has shape {tuple(out.shape)}, expected {tuple(shape)}")
        if out.dtype != dtype:
            raise CheckFailed(EvalStatus.INCORRECT, f"{case}: output {index} has dtype {out.dtype}, expected {dtype}")
        if out.device.type != device.type:
            raise CheckFailed(EvalStatus.INCORRECT,
                              f"{case}: output {index} is on {out.device}, expected {device.type}")


def span(t: torch.Tensor) -> tuple[int, int]:
    """Returns the byte range [start, end) of t's whole storage."""
    storage = t.untyped_storage()
    start = storage.data_ptr()
    return start, start + storage.nbytes()


def check_no_alias(outputs: Sequence[torch.Tensor], inputs: Sequence[Any], case: CaseId) -> None:
    """Raises CheckFailed when an output shares memory with an input (a view or an in-place result)."""
    spans = [span(x) for x in inputs if isinstance(x, _Tensor) and x.numel() > 0]
    for index, out in enumerate(outputs):
        if out.numel() == 0:
            continue
        lo, hi = span(out)
        if any(lo < b_hi and b_lo < hi for b_lo, b_hi in spans):
            raise CheckFailed(EvalStatus.INTEGRITY_VIOLATION,
                              f"{case}: output {index} aliases an input's memory; return a new tensor")


def check_inputs_unchanged(slots: Sequence[Any], originals: Sequence[Any], case: CaseId) -> None:
    """Raises CheckFailed when the candidate wrote into its inputs (compared with the harness's clones)."""
    for index, (slot, original) in enumerate(zip(slots, originals, strict=True)):
        if isinstance(slot, _Tensor) and not _equal_with_nan(slot, original):
            raise CheckFailed(EvalStatus.INTEGRITY_VIOLATION,
                              f"{case}: input {index} was modified by the candidate; inputs are read-only")


def _equal_with_nan(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point() or a.is_complex():
        return bool(_isclose(a, b, rtol=0.0, atol=0.0, equal_nan=True).all())
    return bool(_equal(a, b))


def compare(out: torch.Tensor, ref: torch.Tensor, tol: Tolerance, case: CaseId, index: int) -> Mismatch | None:
    """Returns mismatch statistics when `out` misses `ref` under `tol`, else None (NaN matches NaN)."""
    if tol.exact:
        bad = ~_isclose(out.to(ref.dtype), ref, rtol=0.0, atol=0.0, equal_nan=True) if ref.is_floating_point() \
            else out.to(ref.dtype) != ref
        return _stats(out, ref, bad, case, index, "exact") if bool(bad.any()) else None
    o = out.to(torch.float64) if ref.dtype == torch.float64 else out.to(torch.float32)
    r = ref.to(o.dtype)
    if tol.rel_l2 is not None:
        finite = _isfinite(r)
        err = float(torch.linalg.vector_norm(torch.where(finite, o - r, 0.0)))
        norm = max(float(torch.linalg.vector_norm(torch.where(finite, r, 0.0))), 1e-30)
        nonfinite_ok = bool(_isclose(o[~finite], r[~finite], equal_nan=True).all())
        if err / norm <= tol.rel_l2 and nonfinite_ok:
            return None
        bad = ~_isclose(o, r, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
        return _stats(o, r, bad, case, index, f"rel_l2 {err / norm:.3g} > {tol.rel_l2:g}")
    bad = ~_isclose(o, r, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
    if not bool(bad.any()):
        return None
    return _stats(o, r, bad, case, index, f"atol {tol.atol:g} rtol {tol.rtol:g}")


def _stats(o: torch.Tensor, r: torch.Tensor, bad: torch.Tensor, case: CaseId, index: int, rule: str) -> Mismatch:
    of, rf = o.double(), r.double()
    diff = (of - rf).abs().nan_to_num(nan=float("inf"))
    rel = diff / rf.abs().clamp_min(1e-12)
    if bool(bad.any()):
        flat = int(bad.reshape(-1).nonzero()[0, 0])
    else:  # a rel_l2 failure where every element passes isclose: point at the largest error
        flat = int(diff.reshape(-1).argmax()) if diff.numel() else 0
    first = [int(i) for i in torch.unravel_index(torch.tensor(flat), tuple(bad.shape))] if bad.dim() else []
    at = tuple(first)
    detail = (f"{rule}; first bad at {first}: got {float(of[at]) if bad.dim() else float(of):.6g}, "
              f"expected {float(rf[at]) if bad.dim() else float(rf):.6g}")
    return Mismatch(shape=case.shape, seed=case.seed, output_index=index,
                    max_abs_err=float(diff.max()) if diff.numel() else 0.0,
                    max_rel_err=float(rel.max()) if rel.numel() else 0.0,
                    frac_mismatched=float(bad.double().mean()) if bad.numel() else 0.0,
                    first_bad_index=first, detail=f"{case} ({detail})")
