"""Timing and profiling of a correct candidate against its baselines, inside the worker."""

from __future__ import annotations

import dataclasses
import logging
import math
import secrets
from collections.abc import Callable
from typing import Any

import torch

from kernelevolve.core.types import EvalStatus, ShapeTiming
from kernelevolve.eval import adaptive
from kernelevolve.eval.cases import (
    MAX_DRAW,
    ShapeCases,
    build_model,
    ieee_fp32,
    tensor_bytes,
    timed_case_id,
)
from kernelevolve.eval.correctness import CaseId, CheckFailed, as_outputs
from kernelevolve.eval.timing import median_iqr
from kernelevolve.eval.wire.messages import EvalJob
from kernelevolve.eval.worker.candidate import (
    WorkerContext,
    candidate_code,
    check_device,
    check_process_state,
    refill,
)
from kernelevolve.eval.worker.guard import procstate
from kernelevolve.tasks.reference import compile_baseline

logger = logging.getLogger(__name__)
_randbelow = secrets.randbelow  # bound before any candidate runs (the taint check watches the module's too)

PEAK_MATMUL_N = 8192  # square matmul for the FLOP/s peak: ~1.1 TFLOP, large enough to saturate any current GPU


@dataclasses.dataclass(frozen=True)
class BaselineRecord:
    """A shape's baseline time, measured interleaved with a candidate in this worker at job `job`."""

    median_ms: float
    iqr_ms: float
    job: int


def baseline_model(ctx: WorkerContext, shape: str, kind: str) -> Any:
    """Returns the reference model for a shape: eager, or torch.compile'd and cached per shape in the worker."""
    compiled = kind == "compile" and not ctx.platform.interpreter
    if compiled and shape in ctx.compiled:
        return ctx.compiled[shape]
    model = build_model(ctx.task, ctx.task.make_init_inputs(shape), ctx.platform.device(), upcast=False)
    if compiled:
        ctx.compiled[shape] = model = compile_baseline(model, ctx.task.compile_dynamic)  # static unless the task says
    return model


def bind(model: Any, inputs: list[Any], ctx: WorkerContext) -> Any:
    """Returns a zero-arg callable running the baseline model on inputs, run once (compiled, warmed up)."""

    def run() -> Any:
        with torch.no_grad():
            return model(*inputs)

    with torch._inductor.config.patch(ctx.task.compile_options):
        run()  # compile / warm up outside the timed region, under the task's inductor settings
    ctx.platform.synchronize()
    return run


def candidate_fn(ctx: WorkerContext, model: torch.nn.Module, slots: list[Any], keep: dict[str, Any] | None = None) -> Any:
    """Returns a zero-arg callable running the candidate under guard with launches counted.

    With `keep`, every call's output is stored in keep["out"] (timed outputs are spot-checked).
    """

    def run() -> Any:
        before = ctx.counter.count
        ctx.counter.active = True
        try:
            with candidate_code(ctx, "timing", watch_state=False), torch.no_grad():
                out = model(*slots)
        finally:
            ctx.counter.active = False
        if ctx.counter.count == before:  # two int reads: nothing measurable inside the timed region
            raise CheckFailed(EvalStatus.INTEGRITY_VIOLATION, "timing: a timed call launched no Triton kernel "
                              "(an output cached or computed outside the timed calls)")
        if keep is not None:
            keep["out"] = out
        return out

    return run


Spot = tuple[int, int, tuple[torch.Tensor, ...]]  # (the shape's first case number, draw, outputs) for the referee


class FreshDraws:
    """Feeds every candidate call of a shape's timing (calibration and warm-up included) inputs no call saw.

    Before each call the slots are refilled, outside the timed region, with the task's own inputs under
    cases.timed_case_id(timing_seed, shape, draw), the draw counting up through the job (`draws`, per shape),
    so sorted or index inputs keep their invariants and a result cached by input content never hits (built on the
    device when make_inputs takes `device`, else on the host and moved). After a call returned, a reservoir sample
    decides with `secrets` whether its outputs replace the kept sample (so one call of all is kept uniformly at
    random, and no call can know in advance whether it is the one); the last call's outputs are kept too. Both go
    to the referee with their draw numbers, and it rebuilds their inputs from its own copy of timing_seed.
    """

    def __init__(self, ctx: WorkerContext, sc: ShapeCases, slots: list[Any], timing_seed: int, first: int,
                 draws: dict[str, int]) -> None:
        self.ctx, self.sc, self.slots, self.seed, self.first, self.draws = ctx, sc, slots, timing_seed, first, draws
        self.keep: dict[str, Any] = {}
        self.current: tuple[int, CaseId] | None = None  # the draw of the call in progress and its inputs' id
        self.seen = 0
        self.sample: tuple[int, tuple[torch.Tensor, ...]] | None = None
        self.last: tuple[int, tuple[torch.Tensor, ...]] | None = None

    def before(self) -> None:
        self.collect()
        draw = self.draws.get(self.sc.shape, 0)
        if draw >= MAX_DRAW:
            raise CheckFailed(EvalStatus.INTEGRITY_VIOLATION, f"timing: more than {MAX_DRAW} timed calls of shape "
                                                              f"{self.sc.shape} in one job")
        self.draws[self.sc.shape] = draw + 1
        case = timed_case_id(self.sc.shape, self.seed, draw)
        self.current = draw, case
        refill(self.slots, self.ctx.task.make_inputs(case.shape, case.seed, device=self.ctx.platform.device()))

    def collect(self) -> None:
        """Keeps the last call's outputs (a copy, queued on the device: the call's buffers may be reused)."""
        out, current = self.keep.pop("out", None), self.current
        if out is None or current is None:
            return
        draw, case = current
        outputs = tuple(o.detach().clone() for o in as_outputs(out, case))
        self.seen += 1
        if _randbelow(self.seen) == 0:
            self.sample = (draw, outputs)
        self.last = (draw, outputs)

    def spot(self) -> list[Spot]:
        kept = dict(found for found in (self.sample, self.last) if found is not None)
        return [(self.first, draw, outputs) for draw, outputs in sorted(kept.items())]


def time_shape(ctx: WorkerContext, job: EvalJob, sc: ShapeCases, model: torch.nn.Module,
               slots: list[Any], baseline: Any, baseline_name: str, first: int,
               draws: dict[str, int], eager: Any = None) -> tuple[ShapeTiming, list[Spot], dict[str, float]]:
    """Returns the timing of one shape, its spot-check outputs, and notes (metrics) on how it was timed
    (stopped early, baseline reused or re-measured).

    The caller exports the outputs once the round's candidate code has all run (a later shape's calls
    could otherwise rewrite the exchange files of this one).

    Every candidate call gets fresh inputs from a FreshDraws feed, refilled into the same slots outside the timed
    region; the outputs the feed keeps go to the referee.

    The baseline is timed on every rep the first time in a worker and every `baseline_refresh` jobs; in
    between, every PROBE_EVERY-th rep probes it and the cached median stands while the probe agrees within
    `baseline_probe_tolerance` (adaptive.py). A candidate clearly slower than job.best_ms on this shape
    stops early (adaptive.clearly_slower); the interpreter always times everything.

    `eager` (the eager reference model, when the baseline is torch.compile) is timed interleaved with them whenever
    the baseline is timed on every rep, and its median stands in between: the export's fallback is the eager
    reference, so a kernel must beat it too (export.choose_kernels), and a torch.compile slower than eager
    (graph breaks, host syncs) shows in the note `eager_ms.<shape>`.
    """
    feed = FreshDraws(ctx, sc, slots, job.timing_seed, first, draws)
    fns = {"candidate": candidate_fn(ctx, model, slots, feed.keep), "baseline": baseline}
    timer = ctx.platform.make_timer(warmup_ms=job.warmup_ms, rep_ms=job.rep_ms, reps=job.reps, flush_mb=job.flush_mb)
    record = ctx.baseline_times.get(sc.shape)
    if ctx.platform.interpreter or (record is not None
                                    and ctx.jobs_done - record.job >= int(job.baseline_refresh)):
        record = None  # the baseline is timed on every rep of this job
    if eager is not None and (record is None or sc.shape not in ctx.eager_times):
        fns["eager"] = bind(eager, sc.cases[0].inputs, ctx)
    best = job.best_ms.get(sc.shape)
    notes: dict[str, float] = {}

    def slower(times: dict[str, list[float]]) -> bool:
        if not adaptive.clearly_slower(times["candidate"], best, float(job.slower_margin)):
            return False
        notes[f"timing_stopped_slower.{sc.shape}"] = float(len(times["candidate"]))
        return True

    before = procstate.capture()
    times = timer.measure(fns, before={"candidate": feed.before},
                          every={"baseline": adaptive.PROBE_EVERY} if record is not None else None,
                          stop=slower if best and record is not None else None)  # a full baseline is never cut short
    if record is not None:
        drift = adaptive.probe_drift(times["baseline"], record.median_ms)
        notes[f"baseline_probe_drift.{sc.shape}"] = drift
        if drift > float(job.baseline_probe_tolerance):
            notes[f"baseline_remeasured.{sc.shape}"] = 1.0
            record = None
            notes.pop(f"timing_stopped_slower.{sc.shape}", None)
            times = timer.measure(fns, before={"candidate": feed.before})
    check_process_state(ctx, "timing", before)
    ctx.phases.add_busy(sum(sum(v) for v in times.values()) / 1e3, timed=True)
    if times.get("eager"):
        ctx.eager_times[sc.shape] = median_iqr(times["eager"])[0]
    if sc.shape in ctx.eager_times:
        notes[f"eager_ms.{sc.shape}"] = ctx.eager_times[sc.shape]
    feed.collect()
    spot = feed.spot()
    for _, draw, outputs in spot:
        check_device(outputs, ctx.platform.device(), timed_case_id(sc.shape, job.timing_seed, draw))
    cand, cand_iqr = median_iqr(times["candidate"])
    if record is not None:
        base, base_iqr, label = record.median_ms, record.iqr_ms, f"{baseline_name}:{timer.label}:cached"
    else:
        base, base_iqr = median_iqr(times["baseline"])
        label = f"{baseline_name}:{timer.label}"
        ctx.baseline_times[sc.shape] = BaselineRecord(median_ms=base, iqr_ms=base_iqr, job=ctx.jobs_done)
    notes.update(_rep_notes(sc.shape, times, timer))
    timing = ShapeTiming(shape=sc.shape, candidate_ms=cand, candidate_iqr_ms=cand_iqr, baseline_ms=base,
                         baseline_iqr_ms=base_iqr, baseline_name=label)
    return timing, spot, notes


def _rep_notes(shape: str, times: dict[str, list[float]], timer: Any) -> dict[str, float]:
    """Returns how a shape was timed: its candidate reps, and the host's time to queue one candidate call where the
    timer measured it (above candidate_ms the call is launch-bound: back to back it runs at the host's pace)."""
    notes = {f"timing_reps.{shape}": float(len(times["candidate"]))}
    host = getattr(timer, "host_ms", {}).get("candidate")
    if host is not None:
        notes[f"host_queue_ms.{shape}"] = host
    return notes


def profile_shape(ctx: WorkerContext, model: torch.nn.Module, slots: list[Any]) -> dict[str, float]:
    """Returns device-time metrics of a few candidate calls: kernel count, launches, Triton time fraction."""
    from torch.profiler import ProfilerActivity, profile

    run = candidate_fn(ctx, model, slots)
    run()
    ctx.platform.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            run()
        ctx.platform.synchronize()
    total = triton = 0.0
    kernels: set[str] = set()
    launches = 0
    for event in prof.events():
        device_us = float(getattr(event, "device_time", 0.0) or 0.0)
        if device_us <= 0 or getattr(event, "device_type", None) != torch.autograd.DeviceType.CUDA:
            continue
        launches += 1
        kernels.add(event.name)
        total += device_us
        if event.name in ctx.counter.names:
            triton += device_us
    return {"profile_kernels": float(len(kernels)), "profile_launches_per_call": launches / 3.0,
            "profile_device_us_per_call": total / 3.0,
            "triton_time_fraction": triton / total if total > 0 else 0.0}


def roofline(sc: ShapeCases, candidate_ms: float, peak_gbps: float | None) -> dict[str, float]:
    """Returns achieved bandwidth (inputs read once + outputs written once) and its share of peak."""
    nbytes = tensor_bytes(sc.cases[0].inputs)
    nbytes += sum(math.prod(shape) * torch.empty(0, dtype=dtype).element_size() for shape, dtype in sc.expected)
    gbps = nbytes / (candidate_ms * 1e-3) / 1e9 if candidate_ms > 0 else 0.0
    found = {f"achieved_gbps.{sc.shape}": gbps}
    if peak_gbps:
        found[f"bandwidth_fraction.{sc.shape}"] = gbps / peak_gbps
    return found


def measure_peak_gbps(ctx: WorkerContext) -> float | None:
    """Returns the device's measured copy bandwidth (GB/s, read + write), or None on the interpreter."""
    if ctx.platform.interpreter:
        return None
    device = ctx.platform.device()
    src = torch.empty(2**28, dtype=torch.uint8, device=device)  # 256 MiB, above any L2
    dst = torch.empty_like(src)
    timer = ctx.platform.make_timer(warmup_ms=10, rep_ms=50, reps=10, flush_mb=1)
    ms, _ = median_iqr(timer.measure({"copy": lambda: dst.copy_(src)})["copy"])
    return 2 * src.numel() / (ms * 1e-3) / 1e9


def flops_roofline(shape: str, flops: int | None, candidate_ms: float, peak_tflops: float | None) -> dict[str, float]:
    """Returns achieved TFLOP/s of the task's stated FLOP count and its share of the measured matmul peak.

    The count is what the task states (its `flops` hook), not what the candidate executes: a kernel that does
    less work (e.g. a re-associated product) can show a share above 1.
    """
    if not flops or candidate_ms <= 0:
        return {}
    tflops = flops / (candidate_ms * 1e-3) / 1e12
    found = {f"achieved_tflops.{shape}": tflops}
    if peak_tflops:
        found[f"flops_fraction.{shape}"] = tflops / peak_tflops
    return found


def overall_fractions(metrics: dict[str, float]) -> dict[str, float]:
    """Returns dram_bw_frac and flops_frac (operator/diagnosis.py reads them): the largest per-shape share."""
    found = {}
    for name, prefix in (("dram_bw_frac", "bandwidth_fraction."), ("flops_frac", "flops_fraction.")):
        shares = [v for k, v in metrics.items() if k.startswith(prefix)]
        if shares:
            found[name] = max(shares)
    return found


def compute_dtype(sc: ShapeCases) -> torch.dtype | None:
    """Returns the dtype of a shape's first floating-point tensor input (what its FLOPs run in), or None."""
    return next((x.dtype for x in sc.cases[0].inputs if isinstance(x, torch.Tensor) and x.is_floating_point()), None)


def cached_peak(ctx: WorkerContext, name: str, measure: Callable[[WorkerContext], float | None]) -> float | None:
    """Returns ctx.peaks[name], measuring it with `measure(ctx)` the first time in this worker."""
    if name not in ctx.peaks:
        ctx.peaks[name] = measure(ctx)
    return ctx.peaks[name]


def measure_peak_tflops(ctx: WorkerContext, dtype: torch.dtype) -> float | None:
    """Returns the device's measured dense matmul throughput in dtype (TFLOP/s), or None on the interpreter.

    fp16/bf16 run on tensor cores; fp32 runs with TF32 off, so it is the IEEE fp32 peak (the flag is restored).
    """
    if ctx.platform.interpreter:
        return None
    device = ctx.platform.device()
    n = PEAK_MATMUL_N
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    timer = ctx.platform.make_timer(warmup_ms=10, rep_ms=50, reps=10, flush_mb=1)
    with ieee_fp32():
        ms, _ = median_iqr(timer.measure({"matmul": lambda: torch.matmul(a, b, out=out)})["matmul"])
    return 2 * n**3 / (ms * 1e-3) / 1e12
