"""Diagnosis: turns a verdict's numbers into a few findings the prompt states and retrieval searches for.

Pure functions over `EvalResult`. Metric names read from `EvalResult.metrics` (all optional):
    dram_bw_frac        achieved DRAM bandwidth / the device's measured peak (0..1)
    flops_frac          achieved FLOP/s / the device's measured peak (0..1)
    spill_bytes         bytes of registers spilled to local memory per thread (compiler report)
    triton_launches     Triton kernel launches per forward call
    triton_time_fraction  share of device time spent in the candidate's own Triton kernels (0..1)
    ncu.dram_pct, ncu.sm_pct, ncu.occupancy_pct  Nsight Compute counters of the Triton kernels, percent
                        (eval/profile/run.py; ncu.dram_pct stands in for dram_bw_frac when that is absent)
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from typing import Any

from kernelevolve.core.types import EvalResult, EvalStatus, Mismatch

MEMORY_BOUND_FRAC = 0.6  # above this share of a peak the kernel is near its roof
LAUNCH_BOUND_MS = 0.02  # a call this short (20 us) is dominated by launch latency on a GPU
FEW_WRONG_FRAC = 0.05  # under 5% wrong elements points at tails and boundaries, not the main path
TILE_MULTIPLE = 16  # shape sizes not a multiple of this leave partial (tail) tiles
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_TRITON_AT = re.compile(r"\bat (\d+):(\d+):")


class FindingKind(enum.StrEnum):
    """What a finding is about (names are stable: prompts and reports key on them)."""

    unevaluated = "unevaluated"
    compile_error = "compile_error"
    runtime_error = "runtime_error"
    timeout = "timeout"
    crash = "crash"
    integrity = "integrity"
    wrong_tail = "wrong_tail"
    wrong_values = "wrong_values"
    nan_output = "nan_output"
    memory_bound = "memory_bound"
    compute_bound = "compute_bound"
    launch_bound = "launch_bound"
    register_spills = "register_spills"
    outside_triton = "outside_triton"
    slowest_shape = "slowest_shape"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Finding:
    """One diagnosed fact: a sentence for the prompt and keywords for knowledge retrieval."""

    kind: FindingKind
    message: str
    query: str


def diagnose(result: EvalResult | None, source: str, shapes: dict[str, dict[str, Any]] | None = None) -> list[Finding]:
    """Returns the findings for a verdict on `source`, most important first (never empty)."""
    if result is None:
        return [Finding(kind=FindingKind.unevaluated, message="not evaluated yet", query="triton kernel")]
    status = result.status
    if status in (EvalStatus.COMPILE_ERROR, EvalStatus.RUNTIME_ERROR):
        return [_error_finding(result, source)]
    if status is EvalStatus.TIMEOUT:
        return [Finding(kind=FindingKind.timeout, message=f"timed out: {result.reason or 'no detail'}; look for a "
                        "loop whose bound never shrinks or a grid far larger than the problem",
                        query="timeout hang infinite loop grid size")]
    if status is EvalStatus.CRASHED:
        return [Finding(kind=FindingKind.crash, message=f"crashed: {result.reason or 'no detail'}; usually an "
                        "out-of-bounds load or store (a missing mask) or a bad pointer offset",
                        query="illegal memory access out of bounds mask crash")]
    if status is EvalStatus.INTEGRITY_VIOLATION:
        return [Finding(kind=FindingKind.integrity, message=f"integrity check failed: {result.reason}; the work "
                        "must happen in the candidate's own Triton kernels, on the given inputs",
                        query="integrity rules fallback torch caching")]
    if status is EvalStatus.INCORRECT:
        return [_mismatch_finding(result, shapes or {})]
    return _performance_findings(result)


def _error_finding(result: EvalResult, source: str) -> Finding:
    text = result.error or result.reason or ""
    last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), result.reason or "no message")
    line = _candidate_line(text, source)
    where = ""
    if line is not None:
        src = source.splitlines()
        code = src[line - 1].strip() if 0 < line <= len(src) else ""
        where = f" at line {line}" + (f" (`{code}`)" if code else "")
    kind = FindingKind.compile_error if result.status is EvalStatus.COMPILE_ERROR else FindingKind.runtime_error
    label = "compile error" if kind is FindingKind.compile_error else "runtime error"
    return Finding(kind=kind, message=f"{label}{where}: {last}", query=f"{label} {last}")


def _candidate_line(text: str, source: str) -> int | None:
    """Returns the candidate-file line an error points at: the last traceback frame outside
    site-packages, else a Triton `at L:C:` position mapped through the first @triton.jit function."""
    frames = [(f, int(n)) for f, n in _FRAME.findall(text) if "site-packages" not in f and "/lib/python" not in f]
    if frames:
        return frames[-1][1]
    match = _TRITON_AT.search(text)
    if match:
        jit = next((i for i, ln in enumerate(source.splitlines(), 1) if ln.strip().startswith("@triton.jit")), None)
        return jit + int(match.group(1)) if jit is not None else None
    return None


def _mismatch_finding(result: EvalResult, shapes: dict[str, dict[str, Any]]) -> Finding:
    m = result.mismatch
    if m is None:
        return Finding(kind=FindingKind.wrong_values, message=f"wrong results: {result.reason}",
                       query="mismatch wrong results indexing strides")
    where = f"shape {m.shape} (seed {m.seed}, output {m.output_index})"
    stats = f"max abs err {m.max_abs_err:.3g}, max rel err {m.max_rel_err:.3g}, {m.frac_mismatched:.2%} wrong"
    if not (math.isfinite(m.max_abs_err) and math.isfinite(m.max_rel_err)):
        return Finding(kind=FindingKind.nan_output, message=f"NaN/inf outputs on {where} ({stats}): a masked load "
                       "without `other=`, an uninitialized accumulator or a read past the end",
                       query="nan uninitialized masked load other accumulator")
    tails = _tail_dims(shapes.get(m.shape, {}))
    if m.frac_mismatched < FEW_WRONG_FRAC:
        dims = f"; its sizes {tails} leave partial tiles" if tails else ""
        return Finding(kind=FindingKind.wrong_tail, message=f"wrong results only in part of the output on {where}"
                       f" ({stats}), first bad index {m.first_bad_index}{dims}: check masks and boundary handling",
                       query="masks tails boundary partial tile wrong results")
    return Finding(kind=FindingKind.wrong_values, message=f"wrong results on {where} ({stats}), first bad index "
                   f"{m.first_bad_index}: most outputs are wrong, so suspect indexing, strides or the reduction",
                   query="wrong results indexing strides reduction accumulation precision")


def _tail_dims(shape: dict[str, Any]) -> dict[str, int]:
    """Returns the integer sizes of a shape that are not multiples of TILE_MULTIPLE."""
    return {k: v for k, v in shape.items() if isinstance(v, int) and not isinstance(v, bool) and v % TILE_MULTIPLE}


def _performance_findings(result: EvalResult) -> list[Finding]:
    metrics = result.metrics
    out: list[Finding] = []
    bw, flops = metrics.get("dram_bw_frac"), metrics.get("flops_frac")
    if bw is None and "ncu.dram_pct" in metrics:
        bw = metrics["ncu.dram_pct"] / 100
    fastest = min((t.candidate_ms for t in result.timings), default=None)
    if result.platform != "cpu" and fastest is not None and fastest < LAUNCH_BOUND_MS:
        out.append(Finding(kind=FindingKind.launch_bound, message=f"launch-bound: fastest shape runs in "
                           f"{fastest * 1000:.1f} us; fewer launches and more work per program help",
                           query="launch overhead small grid fusion persistent kernel"))
    elif bw is not None or flops is not None:
        roof = _roofline_finding(bw or 0.0, flops or 0.0)
        out.append(dataclasses.replace(roof, message=roof.message + _counter_note(metrics)))
    if metrics.get("spill_bytes", 0.0) > 0:
        out.append(Finding(kind=FindingKind.register_spills, message=f"register spills: {metrics['spill_bytes']:.0f}"
                           " bytes per thread; shrink tiles or num_stages", query="register spills tile size"))
    frac = metrics.get("triton_time_fraction")
    if frac is not None and frac < 0.9:
        out.append(Finding(kind=FindingKind.outside_triton, message=f"only {frac:.0%} of device time is in the "
                           "candidate's Triton kernels; move the rest (copies, layout changes) into them",
                           query="fusion layout transform contiguous copies"))
    slow = min(result.timings, key=lambda t: t.speedup if t.speedup is not None else math.inf, default=None)
    if slow is not None and slow.speedup is not None:
        unit = "interpreter ms" if result.platform == "cpu" else "ms"
        out.append(Finding(kind=FindingKind.slowest_shape, message=f"weakest shape {slow.shape}: {slow.candidate_ms:.4g} "
                           f"{unit} vs baseline {slow.baseline_ms:.4g} (ratio {slow.speedup:.2f})",
                           query="tiling autotune configs"))
    return out or [Finding(kind=FindingKind.slowest_shape, message="correct; no profile numbers to diagnose",
                           query="tiling autotune configs num_warps")]


def _counter_note(metrics: dict[str, float]) -> str:
    """Returns "; ncu counters: ..." for the hardware counters present (empty when none)."""
    parts = [f"{label} {metrics[key]:.0f}%" for key, label in (("ncu.dram_pct", "DRAM throughput"),
             ("ncu.sm_pct", "SM throughput"), ("ncu.occupancy_pct", "achieved occupancy")) if key in metrics]
    return f"; ncu counters: {', '.join(parts)}" if parts else ""


def _roofline_finding(bw: float, flops: float) -> Finding:
    """Returns memory- or compute-bound (whichever resource is used the more), with the headroom it implies."""
    if bw >= flops:
        near = bw >= MEMORY_BOUND_FRAC
        hint = ("near the roof: only less traffic helps (fusion, reuse in SRAM, narrower dtypes)" if near else
                "far below the roof: coalesce accesses, tune tiles, warps and stages")
        return Finding(kind=FindingKind.memory_bound, message=f"memory-bound at {bw:.0%} of peak DRAM bandwidth "
                       f"({flops:.0%} of peak FLOP/s): {hint}", query="memory bound bandwidth coalescing reuse fusion")
    hint = "near the roof: larger tl.dot tiles, fewer conversions" if flops >= MEMORY_BOUND_FRAC else \
        "far below the roof: use tensor cores (tl.dot) and keep them fed (num_stages)"
    return Finding(kind=FindingKind.compute_bound, message=f"compute-bound at {flops:.0%} of peak FLOP/s "
                   f"({bw:.0%} of peak bandwidth): {hint}", query="tl.dot tiling tensor cores num_stages")


def mismatch_summary(m: Mismatch) -> str:
    """Returns one line of mismatch statistics."""
    return (f"{m.shape} seed {m.seed} output {m.output_index}: max abs {m.max_abs_err:.3g}, max rel "
            f"{m.max_rel_err:.3g}, {m.frac_mismatched:.2%} mismatched, first at {m.first_bad_index}")
