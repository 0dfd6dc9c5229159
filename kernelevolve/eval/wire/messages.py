"""The shapes of the messages that cross a process boundary of the judge.

The evaluator side and the sandboxed side both import this module, never each other: what one side sends
and the other reads is defined here once, as a frozen dataclass with to_wire() (the JSON object sent; the
channel adds the nonce) and from_wire() (which names the missing or mistyped field instead of failing later
with a KeyError deep in the harness).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from kernelevolve.core.types import EvalResult
from kernelevolve.eval.wire.fields import FIELD_CHECKS, BadMessage, Message, fields_from_wire, is_number

REPORT_KEY = "kernelevolve_profile"  # the profiled child (profile/main.py) prints one JSON line under this key


class PrecompileStatus(enum.StrEnum):
    """How a compile-only job ended (advice only; the judge's verdict decides)."""

    OK = "ok"
    COMPILE_ERROR = "compile_error"
    RUNTIME_ERROR = "runtime_error"
    INTEGRITY_VIOLATION = "integrity_violation"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


class InputPlacement(enum.StrEnum):
    """Where a compile-only worker puts the inputs it calls forward with.

    host: CPU tensors (no device memory, no device work; Triton specializes on dtype and 16-byte
    alignment, which CPU allocations share with CUDA ones). device: the platform's device, as the
    judge does (allocations and torch ops of the forward then share the device with the judge).
    """

    host = "host"
    device = "device"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Hello(Message):
    """The evaluator's first message to a process it started; the process answers `ready` once it can serve.

    Attributes:
        warm_shapes, baseline: the judge's worker compiles and runs these shapes' baselines before serving
            (baseline: the baseline kind's name; the judge's worker refuses a hello without one).
        staged: report `ready` (stage "context") once imports and device set-up are done, then wait for a
            `warm` message before running baselines on the device (the evaluator takes the device gate between).
        ahead_s: child processes compile the baselines ahead of the worker (eval/baseline_ahead.py): it loads
            each shape once the shape's mark appears in its dir, waiting at most this long in all before it
            compiles the rest itself; 0: none does.
    """

    HEADER = {"kind": "hello"}

    warm_shapes: list[str] = dataclasses.field(default_factory=list)
    baseline: str = ""
    staged: bool = False
    ahead_s: float = 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvalJob(Message):
    """The evaluator's job for the worker: one candidate and everything the worker needs to judge it.

    Attributes:
        candidate_id, source: the candidate (source is Python text; the worker imports it under guard).
        shapes, heldout: timed shapes, then shapes checked for correctness only.
        seeds: one input seed per correctness case set (drawn fresh per job, not guessable); extra_seed: the
            seed of the extra-distribution cases, built only when extra_distribution.
        timing: whether the worker builds baselines and times at all; baseline: the baseline kind's name.
        profile: collect a torch.profiler summary (first timing round only).
        warmup_ms, rep_ms, reps, flush_mb: the timer's settings (reps: the interpreter's fixed count).
        min_triton_fraction: below this share of device time in Triton kernels the candidate is a fallback.
        suspicious_speedup: a fitness above it is re-measured on fresh inputs (the evaluator's decision).
        error_chars: the tail of a traceback kept in a verdict.
        timing_seed: the secret from which every timed call's fresh inputs are derived (cases.timed_case_id).
        baseline_refresh, baseline_probe_tolerance, slower_margin: adaptive timing (adaptive.py).
        case_memory_fraction: the share of device memory the job's cases may hold at once.
        best_ms: per timed shape, the fastest time judged ok by this evaluator (adaptive early stop).
        best_fitness: the highest fitness judged ok by this evaluator (a suspicious speedup above it is a record).
    """

    HEADER = {"kind": "job"}

    candidate_id: str
    source: str
    shapes: list[str]
    heldout: list[str]
    seeds: list[int]
    extra_seed: int
    extra_distribution: bool
    timing: bool
    baseline: str
    profile: bool
    warmup_ms: float
    rep_ms: float
    reps: int
    flush_mb: float
    min_triton_fraction: float
    suspicious_speedup: float
    error_chars: int
    timing_seed: int
    baseline_refresh: int
    baseline_probe_tolerance: float
    slower_margin: float
    case_memory_fraction: float
    best_ms: dict[str, float] = dataclasses.field(default_factory=dict)
    best_fitness: float = 0.0


class Step(enum.StrEnum):
    """What the evaluator tells the worker to do after an interim report."""

    check = "check"  # run every other case (after the first)
    time = "time"  # time against the baselines
    retime = "retime"  # time again on fresh inputs (a suspicious speedup)
    finish = "finish"  # send the final report
    abort = "abort"  # stop: the referee's verdict is the verdict


@dataclasses.dataclass(frozen=True, kw_only=True)
class NextStep(Message):
    """The evaluator's answer to an interim report.

    Attributes:
        phase: what to do next (a Step's value; anything else stops the job like abort).
        expected: per shape, the referee's output structure (time, retime: outputs are kept in that form).
        best_ms: per timed shape, the fastest ok time so far (time only: adaptive early stop).
    """

    HEADER = {"kind": "job"}

    phase: str
    expected: dict[str, Any] = dataclasses.field(default_factory=dict)
    best_ms: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrecompileJob(Message):
    """The pool's job for a compile-only worker: compile one candidate's kernels for the given shapes."""

    HEADER = {"kind": "job"}

    candidate_id: str
    source: str
    shapes: list[str]
    inputs: str = InputPlacement.host.value  # an InputPlacement's value
    error_chars: int = 2000


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerReport:
    """A worker's `result` reply: an interim report between phases, or its final one.

    The worker writes it through its taint-checked sender (worker/main.py, every function it uses bound before
    any candidate ran), in exactly this shape; the evaluator reads it with from_wire, where anything else is
    forged.

    Attributes:
        phase: "first", "checking", "checked", "timed" (interim), or "final".
        result: the worker's partial or final verdict (correctness is the referee's, never this one's).
        recycle: the worker must not serve another candidate after this job.
        outputs: the manifest of the outputs it exported for the referee (wire/exchange.py).
    """

    phase: str
    result: EvalResult
    recycle: bool = False
    outputs: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        """Returns the message as sent (the channel adds the nonce)."""
        return {"kind": "result", "phase": self.phase, "result": self.result.to_dict(), "recycle": self.recycle,
                "outputs": list(self.outputs)}

    @classmethod
    def from_wire(cls, wire: Any) -> WorkerReport:
        """Returns the report a message describes; raises BadMessage when a field is missing or mistyped."""
        if not isinstance(wire, dict) or not isinstance(wire.get("result"), dict):
            raise BadMessage("a WorkerReport needs a `result` object")
        metrics = wire["result"].get("metrics", {})
        if not FIELD_CHECKS["dict[str, float]"](metrics):  # EvalResult.from_dict would turn "4" into 4.0
            bad = [k for k, v in metrics.items() if not is_number(v)] if isinstance(metrics, dict) else metrics
            raise BadMessage(f"WorkerReport.result.metrics must map names to numbers (not: {str(bad)[:120]})")
        try:
            result = EvalResult.from_dict(wire["result"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadMessage(f"WorkerReport.result is not a verdict ({type(exc).__name__}: {str(exc)[:200]})") from exc
        return cls(result=result, **fields_from_wire(cls, wire, skip=("result",)))


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrepareCases(Message):
    """The evaluator's request to the referee: build a job's cases with their references (or add some).

    Attributes:
        shapes, heldout, seeds, extra_seed, extra_distribution: the cases, exactly as the worker builds them.
        start, stop: build only these job-wide case numbers (the first case alone, then the rest).
        append: add to the job's cases (the rest, fresh inputs to re-time on) instead of starting the job over.
        case_memory_fraction: the share of device memory the job's cases may hold (None: no budget).
        timing_seed: the job's EvalJob.timing_seed (a job's first request sets it; append keeps it), from which
            the referee rebuilds the inputs of the timed calls whose outputs it checks.
    """

    HEADER = {"kind": "job", "phase": "prepare"}

    shapes: list[str]
    seeds: list[int]
    heldout: list[str] = dataclasses.field(default_factory=list)
    extra_seed: int = 0
    extra_distribution: bool = False
    start: int = 0
    stop: int = 2**31
    append: bool = False
    case_memory_fraction: float | None = None
    timing_seed: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Prepared(Message):
    """The referee's answer to PrepareCases: how many cases the job has now and each shape's output structure.

    Attributes:
        cases: the job's case count (numbered as the worker numbers them).
        expected: per shape, [size, dtype name] of each output (the worker keeps its timed outputs in that form).
        phases: the referee's phase seconds for this job so far (None: not reported).
    """

    cases: int
    expected: dict[str, Any] = dataclasses.field(default_factory=dict)
    phases: dict[str, float] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class JudgeOutputs(Message):
    """The evaluator's request to the referee: judge the outputs a worker exported.

    Attributes:
        outputs: the worker's manifest (the referee checks every entry itself, wire/exchange.py).
        pid: the worker whose sealed memfds the entries name (set by the evaluator, never by the worker).
        require: "all": every prepared case from min_case up to max_case (None: the last) must be present;
            otherwise the spot-check of a timing round: outputs of each of `shapes` by timed call (fresh inputs,
            1 to SPOT_DRAWS calls a shape, each new to the job), tagged with a case number of this round's
            (min_case or above) of their shape.
        label: prefixes the verdict's reason.
    """

    HEADER = {"kind": "job", "phase": "judge"}

    outputs: list[Any]
    pid: int | None = None
    require: str = ""
    min_case: int = 0
    max_case: int | None = None
    shapes: list[str] = dataclasses.field(default_factory=list)
    label: str = "correctness"


@dataclasses.dataclass(frozen=True, kw_only=True)
class CompileReport(Message):
    """A compile-only worker's `result`: advice on one candidate, never a verdict.

    Attributes:
        status: a PrecompileStatus value.
        compiled: distinct Triton kernels compiled (or found in the cache); compile_s: seconds inside Triton
            compiles; skipped_configs: autotune configs the real autotuner would skip too.
        error: why the candidate failed to import, build or compile (None when status is ok).
    """

    status: str
    compiled: int = 0
    compile_s: float = 0.0
    skipped_configs: int = 0
    error: str | None = None


class Stage(enum.StrEnum):
    """How far a sandboxed main's start-up got when it sends `ready`."""

    serving = ""  # started: it serves jobs from now on
    context = "context"  # a staged start: imports and device set-up done; it waits for `warm` to run its baselines


@dataclasses.dataclass(frozen=True, kw_only=True)
class Ready(Message):
    """A sandboxed main's answer to the hello: it can serve (or, staged, that its context is built).

    Every main sends the fields it knows; the evaluator keeps the last one as its worker's description.

    Attributes:
        stage: a Stage's value ("": serving; "context": waiting for `warm`, fields below unset).
        network_isolated: the process runs in a network namespace of its own (worker, compile-only worker).
        compile_only: sent by a compile-only worker (precompile/main.py).
        device_name, torch, triton: the device and versions the process runs on (they key the baseline cache;
            "unknown" where the process did not say).
        start: the worker's start-up seconds by stage ("context_s", "baselines_s"), carved into its phases.
    """

    HEADER = {"kind": "ready"}

    stage: str = Stage.serving.value
    network_isolated: bool = False
    compile_only: bool = False
    device_name: str = "unknown"
    torch: str = "unknown"
    triton: str = "unknown"
    start: dict[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_wire(cls, wire: Any) -> Ready:
        """Returns the ready message a wire object describes; raises BadMessage naming a missing or mistyped
        field, or a stage no main sends."""
        ready = cls(**fields_from_wire(cls, wire))
        if ready.stage not in set(Stage):
            raise BadMessage(f"Ready.stage must be one of {[s.value for s in Stage]}, got {ready.stage[:40]!r}")
        return ready


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProfileReport(Message):
    """The profiled child's report (profile/main.py): the one stdout line {REPORT_KEY: to_wire()} it prints,
    which profile/run.py reads back with from_wire (a candidate runs in that process: nothing is taken on trust).

    Attributes:
        shape: the task shape it ran; calls: the profiled calls after the warm-up.
        triton_kernels: the names of the candidate's Triton kernels (through autotune and heuristics wrappers).
    """

    shape: str
    calls: int
    triton_kernels: list[str]
