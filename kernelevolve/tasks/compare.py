"""Compares one output with its reference under a task Tolerance (exact, allclose, or relative L2)."""

from __future__ import annotations

import dataclasses
import math

import torch

from kernelevolve.tasks.spec import Tolerance


@dataclasses.dataclass(frozen=True, kw_only=True)
class Comparison:
    """The outcome of one comparison; `reason` says why it failed ("" when ok)."""

    ok: bool
    reason: str = ""
    max_abs: float = 0.0
    max_rel: float = 0.0
    rel_l2: float = 0.0
    mismatched: int = 0


def compare(output: torch.Tensor, reference: torch.Tensor, tol: Tolerance, *, check_dtype: bool = True) -> Comparison:
    """Returns whether `output` matches `reference` under `tol`; shapes must match, dtypes when check_dtype."""
    if tuple(output.shape) != tuple(reference.shape):
        return Comparison(ok=False, reason=f"shape {tuple(output.shape)} != reference {tuple(reference.shape)}")
    if (check_dtype or tol.exact) and output.dtype != reference.dtype:
        return Comparison(ok=False, reason=f"dtype {output.dtype} != reference {reference.dtype}")
    if tol.exact:
        diff = output.cpu() != reference.cpu()
        count = int(diff.sum())
        return Comparison(ok=count == 0, reason=f"{count} elements differ (exact)" if count else "", mismatched=count)
    return _compare_float(output.cpu().double(), reference.cpu().double(), tol)


def _compare_float(out: torch.Tensor, ref: torch.Tensor, tol: Tolerance) -> Comparison:
    """Returns the float comparison; NaN must sit where the reference has NaN."""
    nan_out, nan_ref = torch.isnan(out), torch.isnan(ref)
    if not torch.equal(nan_out, nan_ref):
        return Comparison(ok=False, reason="NaN pattern differs from the reference",
                          mismatched=int((nan_out != nan_ref).sum()))
    out, ref = out.masked_fill(nan_out, 0.0), ref.masked_fill(nan_ref, 0.0)
    err = (out - ref).abs()
    max_abs = float(err.max()) if err.numel() else 0.0
    max_rel = float((err / ref.abs().clamp_min(1e-12)).max()) if err.numel() else 0.0
    ref_norm = float(torch.linalg.vector_norm(ref))
    rel_l2 = float(torch.linalg.vector_norm(out - ref)) / ref_norm if ref_norm > 0 else float(max_abs > 0)
    stats = {"max_abs": max_abs, "max_rel": max_rel, "rel_l2": rel_l2}
    if not math.isfinite(max_abs):
        return Comparison(ok=False, reason="inf where the reference is finite (or the reverse)", **stats)
    if tol.rel_l2 is not None:
        ok = rel_l2 <= tol.rel_l2
        return Comparison(ok=ok, reason="" if ok else f"relative L2 error {rel_l2:.3g} > {tol.rel_l2:g}", **stats)
    bad = err > tol.atol + tol.rtol * ref.abs()
    count = int(bad.sum())
    reason = f"{count} elements outside atol={tol.atol:g} rtol={tol.rtol:g} (max abs err {max_abs:.3g})"
    return Comparison(ok=count == 0, reason=reason if count else "", mismatched=count, **stats)
