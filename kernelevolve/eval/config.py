"""Configuration of the evaluator (the `eval` node of the Hydra config)."""

from __future__ import annotations

import dataclasses
import enum
import os

from kernelevolve.core.errors import ConfigError
from kernelevolve.core.types import ShapeSet
from kernelevolve.eval.platforms import get_platform

AUTO = -1  # eval.precompile_workers and eval.judges_per_device: resolved by for_host / for_cluster
DEVICE_JUDGES = 2  # eval.judges_per_device=auto on a device platform (the interpreter gets 1)
MAX_AUTO_COMPILE_WORKERS = 8
RESERVED_CPUS = 2  # the search's own process and the referees, besides one CPU per judge's worker
RAY_AUTO_COMPILE_WORKERS = 2


class BaselineKind(enum.StrEnum):
    """What a candidate's time is divided into: torch.compile of the reference (default) or eager."""

    compile = "compile"
    eager = "eager"


class HwProfiler(enum.StrEnum):
    """Which hardware profiler profiles a correct candidate (kernelevolve/eval/profile/run.py); auto = the first
    one present for the platform (ncu, then proton, on cuda; rocprof, then proton, on rocm)."""

    none = "none"
    auto = "auto"
    ncu = "ncu"
    proton = "proton"
    rocprof = "rocprof"


class OutputTransport(enum.StrEnum):
    """How candidate outputs reach the referee: auto = device memory handles on CUDA/ROCm (no copy), files
    elsewhere; file = always through files in the worker's private dir (a fallback where IPC is unavailable)."""

    auto = "auto"
    file = "file"


class ShapeSetChoice(enum.StrEnum):
    """Which shapes to evaluate: auto = small ones under the interpreter, production ones on devices."""

    auto = "auto"
    small = "small"
    production = "production"


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckConfig:
    """What a candidate is checked on, and what its verdict keeps (part of EvalConfig).

    Attributes:
        seeds: number of random input seeds per shape for correctness (drawn fresh per run, not guessable).
        shape_set: which family of task shapes to run.
        extra_distribution: also check one sign-flipped input set per shape (negative values where the
            task's own inputs are non-negative); a task opts out with EVAL_SIGN_FLIP = False.
        case_memory_fraction: share of the device's memory that each of the worker and the referee may fill
            with materialized test cases (inputs, references) and with outputs waiting for the referee. Tasks
            whose cases fit change nothing; beyond it, cases are dropped and rebuilt from their seeds when
            needed again, and outputs go to the referee in batches (a full-size KernelBench problem: 6 GB
            per input set). 0 = no limit (the cpu platform never has one). With several judges per device
            each process gets this share divided by judges_per_device.
        error_chars: longest error text kept in a verdict, characters (the tail is kept).
    """

    seeds: int = 3
    shape_set: ShapeSetChoice = ShapeSetChoice.auto
    extra_distribution: bool = True
    case_memory_fraction: float = 0.15
    error_chars: int = 4000


@dataclasses.dataclass(frozen=True, kw_only=True)
class TimingConfig:
    """How a correct candidate is timed against its baseline (part of EvalConfig).

    Attributes:
        baseline: which reference time fitness divides by.
        warmup_ms: timing warm-up per shape, milliseconds of wall clock (each warm-up call with its fresh inputs).
        rep_ms: wall-clock budget of the timed reps per shape, milliseconds (each rep: L2 flush, a device
            sleep sized to the host's queueing time, the call, a sync); the rep count stays within 10..1000.
        l2_flush_mb: size of the buffer zeroed between timed reps, MiB; 0 = twice the L2 the device reports
            (H100: 2 x 50 MB), 512 MiB where it reports none (MI300X has 256 MB of Infinity Cache).
        interpreter_reps: timed reps per shape on the cpu platform (wall clock, interpreter time).
        suspicious_speedup: a fitness above this is re-measured and flagged for review when it is a new record
            (a shape timed for the first time, or >20% faster than this judge's best there; conversation.py).
        slower_margin: adaptive timing stops a candidate whose median time is, at ~99.7% confidence, more than
            this fraction above the best time this evaluator has judged on the shape (eval/adaptive.py); a
            candidate that could still be the best is timed in full. Negative turns early stopping off.
        baseline_refresh: a worker times each shape's baseline on every rep once, then reuses that median for
            this many jobs, probing it on every 8th rep of each later job (devices only); 0 = time the
            baseline on every rep of every job.
        baseline_probe_tolerance: relative drift of the probe's median from the cached baseline above which
            the baseline is timed again on every rep and the cache replaced (e.g. 0.05 = 5%).
        baseline_cache: JSON file of recent baseline times per (task file sha256, shape, input dtypes, device,
            torch, triton, baseline kind), "~" expanded; "" turns it off. Used only to flag a noisy machine
            (see baseline_drift_tolerance) and to show `kernelevolve eval --json` what the usual baseline is;
            fitness always divides by the baseline timed interleaved with the candidate. Only device platforms
            read or write it (the cpu interpreter has no real baseline).
        baseline_drift_tolerance: relative deviation of a shape's interleaved baseline from its cached median
            (e.g. 0.15 = 15%) above which the verdict gets the `noisy_measurement` metric and a note in its
            reason; the verdict's numbers stay as measured.
    """

    baseline: BaselineKind = BaselineKind.compile
    warmup_ms: float = 25.0
    rep_ms: float = 50.0
    l2_flush_mb: float = 0.0
    interpreter_reps: int = 3
    suspicious_speedup: float = 10.0
    slower_margin: float = 0.05
    baseline_refresh: int = 20
    baseline_probe_tolerance: float = 0.05
    baseline_cache: str = "~/.cache/kernelevolve/baselines.json"
    baseline_drift_tolerance: float = 0.15


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProcessConfig:
    """The judge's processes: their limits, start-up, how many share a device, what they share (part of EvalConfig).

    Attributes:
        timeout_s: wall-clock limit for one candidate's whole evaluation, seconds; the worker's process
            group is killed past it.
        worker_start_timeout_s: limit for starting a worker, seconds: imports, device init and compiling the
            torch.compile baselines of every timed shape (minutes with max-autotune on a cold cache).
        memory_limit_gb: address-space limit of a cpu worker, GiB (not applied on GPU platforms, where an
            RLIMIT_AS breaks the CUDA driver).
        worker_max_evals: a worker process is replaced after this many evaluations (it is also replaced
            after any crash, timeout, integrity violation or device error).
        block_network: put cpu/gpu workers in a fresh network namespace when running as root (an audit
            hook refuses and reports connections either way).
        spare_worker: on the cpu platform, keep a second worker warming up, so replacing a crashed or
            recycled worker costs no start-up time. Never on devices: a spare compiling its baselines
            would share the device with the timed reps.
        output_transport: how the worker hands candidate outputs to the referee, the separate process that
            holds the reference outputs and decides correctness (see OutputTransport).
        judges_per_device: judges (each a worker and a referee process) sharing one device in a search: their
            correctness checks run at once while timing holds the device alone (eval/device_gate.py), so the
            device times one candidate while the host checks the next ones. 1 = one candidate at a time.
            -1 (auto): DEVICE_JUDGES (2) on a device platform, 1 on the cpu platform (the interpreter has no
            device to share, and a CI-sized host has no CPU to spare). On an H100 the conv1d search judged
            49-51 candidates a minute with 2 judges against 42 with 1 (benchmarks/RESULTS.md).
        precompile_workers: compile-only worker processes per evaluator (0 = off), each using one host CPU
            and ~1 GiB of host memory. They compile queued candidates' Triton kernels into the shared cache
            while the device times another candidate, so the judge's own compiles become cache hits. Used
            on device platforms only (the cpu interpreter compiles nothing). -1 (auto) sizes them to the
            host on cluster=local: half the CPUs the judges leave, 1 to 8 (a 16-core H100 host: 6), since a
            search whose every candidate is a new tunable combination is compile-bound (a candidate's kernels
            for three shapes take 5-18 s to compile, its verdict ~1 s); on cluster=ray, where bundles are
            sized before any node is seen, auto is 2 per evaluator (set a number to size them yourself).
        baseline_compile_procs: beside a starting worker, up to this many child processes compile its
            torch.compile baselines side by side into its private cache (eval/baseline_ahead.py; trusted, they run
            no candidate code), and the worker loads each shape as soon as it is there; 1 leaves it all to the
            worker.
            Max-autotune of one shape is mostly single-threaded host work, so a many-core host compiles several
            shapes at once. Device platforms only.
        compile_cache: the machine-wide warm compile cache, "~" expanded; "" turns it off. What a run's workers
            compiled before serving any candidate (the torch.compile baselines, Triton's kernels for them) is
            kept there per torch/triton version and task file, and seeds a later run's warm snapshot, so its
            first worker loads the baselines instead of autotuning them again (kernel_cache.py). Device
            platforms only. Delete the dir to reclaim its space; nothing else depends on it.
    """

    timeout_s: float = 180.0
    worker_start_timeout_s: float = 900.0
    memory_limit_gb: float = 8.0
    worker_max_evals: int = 50
    block_network: bool = True
    spare_worker: bool = True
    output_transport: OutputTransport = OutputTransport.auto
    judges_per_device: int = AUTO
    precompile_workers: int = AUTO
    baseline_compile_procs: int = 4
    compile_cache: str = "~/.cache/kernelevolve/compiled"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProfilingConfig:
    """What is profiled on a device besides the timing (part of EvalConfig).

    Attributes:
        profile: collect a torch.profiler summary per candidate on devices (first timing round only).
        min_triton_fraction: checked on that summary (so only with `profile`): the least share of device time
            that must be spent inside the candidate's own Triton kernels; below it the candidate is a PyTorch
            fallback in disguise (an integrity violation).
        hw_profiler: after an ok verdict on a device, also run the candidate in its own sandboxed process
            under this hardware profiler and add its flat metrics (ncu.*, proton.*, rocprof.*) to the verdict;
            "none" skips it. An explicitly named tool that is missing is an error; "auto" finds none quietly.
        hw_profile_timeout_s: wall-clock limit for one candidate's hardware profile (all its shapes),
            seconds; the profiler's process group is killed past it (ncu replays every kernel ~40 times).
    """

    profile: bool = True
    min_triton_fraction: float = 0.5
    hw_profiler: HwProfiler = HwProfiler.none
    hw_profile_timeout_s: float = 300.0


EVAL_GROUPS = (CheckConfig, TimingConfig, ProcessConfig, ProfilingConfig)  # EvalConfig's concerns, in --cfg order


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvalConfig(ProfilingConfig, ProcessConfig, TimingConfig, CheckConfig):
    """Settings of candidate evaluation: the `eval` node of the Hydra config, one flat set of keys.

    Each key is declared and documented in the group of its concern: CheckConfig (cases, what a verdict
    keeps), TimingConfig, ProcessConfig (the judge's processes), ProfilingConfig. EvalConfig only joins them
    (bases listed last-first, so `--cfg job` shows them in EVAL_GROUPS order), so the keys stay `eval.<key>`:
    the spelling every command line, sweep and stored run config uses (a resumed run merges its stored
    config, and reports read `eval.baseline` from it). Code that needs one concern may take that group.
    """


def with_judges(config: EvalConfig, *, platform: str, concurrency: int | None = None) -> EvalConfig:
    """Returns config with an auto (-1) judges_per_device resolved for `platform` (see ProcessConfig): 1 also
    when the search keeps one candidate in flight (search.concurrency = 1), where a second judge would only
    start a worker that alternates with the first. Raises ConfigError for a bad count or an unknown platform."""
    judges = config.judges_per_device
    if judges == 0 or judges < AUTO:
        raise ConfigError(f"eval.judges_per_device must be -1 (auto) or a count of at least 1, got {judges}")
    interpreter = get_platform(platform).interpreter
    if judges != AUTO:
        return config
    one = interpreter or (concurrency is not None and concurrency <= 1)
    return dataclasses.replace(config, judges_per_device=1 if one else DEVICE_JUDGES)


def for_host(config: EvalConfig, *, platform: str, cpus: int | None = None,
             concurrency: int | None = None) -> EvalConfig:
    """Returns config with its auto counts resolved on this host: judges_per_device for `platform` (and the
    search's concurrency, when given), and precompile_workers sized to this host's CPUs (see ProcessConfig)."""
    config = with_judges(config, platform=platform, concurrency=concurrency)
    if config.precompile_workers < AUTO:
        raise ConfigError(f"eval.precompile_workers must be -1 (auto), 0 (off) or a count, got {config.precompile_workers}")
    if config.precompile_workers != AUTO:
        return config
    cpus = len(os.sched_getaffinity(0)) if cpus is None else cpus
    spare = cpus - config.judges_per_device - RESERVED_CPUS
    return dataclasses.replace(config, precompile_workers=max(1, min(MAX_AUTO_COMPILE_WORKERS, spare // 2)))


def for_cluster(config: EvalConfig, *, platform: str, concurrency: int | None = None) -> EvalConfig:
    """Returns config with its auto counts resolved for a Ray fleet: judges_per_device for `platform` (and the
    search's concurrency, when given), and precompile_workers RAY_AUTO_COMPILE_WORKERS (bundles are sized
    before any node is seen)."""
    config = with_judges(config, platform=platform, concurrency=concurrency)
    if config.precompile_workers == AUTO:
        return dataclasses.replace(config, precompile_workers=RAY_AUTO_COMPILE_WORKERS)
    return for_host(config, platform=platform)  # validates


def resolve_shape_set(choice: ShapeSetChoice, platform: str) -> ShapeSet:
    """Returns the task shape family to run: `auto` is small shapes on cpu (interpreter), production elsewhere."""
    if choice is ShapeSetChoice.auto:
        return ShapeSet.SMALL if platform == "cpu" else ShapeSet.PRODUCTION
    return ShapeSet.SMALL if choice is ShapeSetChoice.small else ShapeSet.PRODUCTION
