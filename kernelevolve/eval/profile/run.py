"""Hardware profilers (Nsight Compute, Proton, rocprofv3) run on a candidate in its own sandboxed process.

A separate, optional step after the judge: the candidate runs in `kernelevolve.eval.profile.main` (one
process per shape, scrubbed environment, private temp dir, own process group, killed at the deadline) under
the profiler; its output is parsed into per-kernel `KernelStats` and summarized into flat float metrics
prefixed with the tool's name ("ncu.dram_pct", "proton.triton_time_fraction", ...).

Only the profiled calls are counted where the tool allows it: ncu runs with `--profile-from-start off` and
the child brackets its profiled calls with cudaProfilerStart/Stop; Proton starts after the warm-up call.
rocprofv3 sees the warm-up call too, so its per-call numbers divide by calls + 1 (same kernels each call).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from kernelevolve.core.errors import ProfilerError, ProfilerUnavailableError
from kernelevolve.eval import fsjail
from kernelevolve.eval.config import HwProfiler
from kernelevolve.eval.kernel_cache import BoundCache, private_cache
from kernelevolve.eval.platforms import get_platform
from kernelevolve.eval.profile.parsers import (
    KernelStats,
    is_triton_kernel,
    merge_kernels,
    parse_ncu_csv,
    parse_proton_hatchet,
    parse_rocprof_csv,
    summarize,
)
from kernelevolve.eval.sandbox import STDERR_TAIL_CHARS, jail_layers, jail_writable, kill_group, scrubbed_env
from kernelevolve.eval.wire.messages import REPORT_KEY, BadMessage, ProfileReport

logger = logging.getLogger(__name__)

__all__ = ["KernelStats", "ProfileRun", "available_profilers", "choose_tool", "is_triton_kernel", "metrics_of", "parse_ncu_csv",
           "parse_proton_hatchet", "parse_rocprof_csv", "profile_candidate", "profile_runs", "resolve_tool",
           "summarize"]

NCU_METRICS = ("gpu__time_duration.sum", "dram__throughput.avg.pct_of_peak_sustained_elapsed",
               "sm__throughput.avg.pct_of_peak_sustained_elapsed", "launch__registers_per_thread",
               "sm__warps_active.avg.pct_of_peak_sustained_active")  # what parse_ncu_csv reads


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProfileRun:
    """What one profiled child process gave: the candidate's Triton kernel names and per-kernel stats."""

    shape: str
    tool: str
    calls: int  # candidate calls the stats cover
    triton_names: list[str]
    kernels: list[KernelStats]


def available_profilers(platform: str) -> list[str]:
    """Returns the profilers usable on `platform`, preferred first (none on cpu, the interpreter, or mtia)."""
    found = []
    if platform == "cuda" and shutil.which("ncu"):
        found.append(HwProfiler.ncu.value)
    if platform == "rocm" and (shutil.which("rocprofv3") or shutil.which("rocprof")):
        found.append(HwProfiler.rocprof.value)
    if platform in ("cuda", "rocm") and _proton_importable():
        found.append(HwProfiler.proton.value)
    return found


def _proton_importable() -> bool:
    try:
        import triton.profiler  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_tool(tool: str, platform: str) -> str:
    """Returns the tool to run: "auto" becomes the first available one; a named tool must be available."""
    if tool == HwProfiler.none:
        return tool
    found = available_profilers(platform)
    if tool == HwProfiler.auto:
        if not found:
            raise ProfilerUnavailableError(f"no hardware profiler found for platform {platform!r} (ncu or proton on "
                                           "cuda, rocprofv3 or proton on rocm); use tool 'none' to just run it")
        return found[0]
    if tool not in found:
        raise ProfilerUnavailableError(f"profiler {tool!r} is not available on platform {platform!r} (found: "
                                       f"{found or 'none'}); install it, put it on PATH, or choose another tool")
    return tool


def choose_tool(choice: str, platform: str) -> str | None:
    """Returns the configured profiler to run after ok verdicts, or None to skip profiling.

    "none", and "auto" when nothing is available, skip quietly; a named tool that is missing raises
    ProfilerUnavailableError (asked for explicitly: fail loud, once, when the evaluator starts).
    """
    if choice == HwProfiler.none or (choice == HwProfiler.auto and not available_profilers(platform)):
        return None
    return resolve_tool(choice, platform)


def profile_candidate(task_path: Path, source: str, *, platform: str, tool: str, shapes: Sequence[str],
                      workdir: Path, timeout_s: float, calls: int = 3,
                      limit_to_profiled_calls: bool = True) -> dict[str, float]:
    """Returns the flat metrics of the candidate's profile under `tool` over `shapes` (see metrics_of)."""
    return metrics_of(profile_runs(task_path, source, platform=platform, tool=tool, shapes=shapes, workdir=workdir,
                                   timeout_s=timeout_s, calls=calls, limit_to_profiled_calls=limit_to_profiled_calls))


def metrics_of(runs: Sequence[ProfileRun]) -> dict[str, float]:
    """Returns summarize() over all shapes pooled, plus "<metric>.<shape>" per shape when there are several.

    Tool "none" measures nothing: its only metric is none.triton_kernels.
    """
    if not runs:
        return {}
    prefix = runs[0].tool
    names = sorted({n for r in runs for n in r.triton_names})
    if prefix == HwProfiler.none:  # nothing was measured: only what the candidate defines
        return {"none.triton_kernels": float(len(names))}
    pooled = merge_kernels(k for r in runs for k in r.kernels)
    out = summarize(pooled, names, prefix=prefix, calls=sum(r.calls for r in runs))
    if len(runs) > 1:
        for r in runs:
            per_shape = summarize(r.kernels, r.triton_names, prefix=prefix, calls=r.calls)
            out.update({f"{key}.{r.shape}": value for key, value in per_shape.items()})
    return out


def profile_runs(task_path: Path, source: str, *, platform: str, tool: str, shapes: Sequence[str], workdir: Path,
                 timeout_s: float, calls: int = 3, limit_to_profiled_calls: bool = True) -> list[ProfileRun]:
    """Returns one ProfileRun per shape: the candidate run in a sandboxed child under the profiler.

    tool "none" runs the child without a profiler (kernel names only); "auto" picks available_profilers()[0].
    Raises ProfilerUnavailableError for a missing tool, ProfilerError when a run fails or times out
    (`timeout_s` covers all shapes).
    """
    tool = resolve_tool(tool, platform)
    deadline = time.monotonic() + timeout_s
    workdir = Path(workdir).resolve()  # the child runs in its own dir: its jail and caches need absolute paths
    workdir.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="profile_", dir=workdir))
    try:
        candidate = private / "candidate.py"
        candidate.write_text(source)
        runs = []
        for index, shape in enumerate(shapes):
            if time.monotonic() >= deadline:
                raise ProfilerError(f"the profile timeout ({timeout_s:g} s) ran out before shape {shape!r}; raise "
                                    "eval.hw_profile_timeout_s or profile fewer shapes")
            rundir = private / f"shape_{index}"
            rundir.mkdir()
            child = [sys.executable, "-m", "kernelevolve.eval.profile.main", "--task", str(task_path),
                     "--candidate", str(candidate), "--shape", shape, "--calls", str(calls), "--platform", platform]
            filtered = tool == HwProfiler.proton or (tool == HwProfiler.ncu and limit_to_profiled_calls)
            cache = private_cache(workdir, rundir)
            BoundCache(cache, workdir).bind(source)  # the kernels compiled for this source, if any were shared
            env = scrubbed_env(get_platform(platform).worker_env(), rundir, cache)
            stdout = _run(_wrap(tool, _jailed(tool, child, rundir, platform), rundir, filtered), cwd=rundir, env=env,
                          timeout_s=deadline - time.monotonic())
            report = _child_report(stdout, rundir)
            runs.append(ProfileRun(shape=shape, tool=tool, calls=calls if filtered or tool == HwProfiler.none
                                   else calls + 1, triton_names=list(report.triton_kernels),
                                   kernels=_kernels(tool, rundir, stdout)))
            logger.info("profiled shape=%s tool=%s kernels=%d", shape, tool, len(runs[-1].kernels))
        return runs
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _jailed(tool: str, child: list[str], rundir: Path, platform: str) -> list[str]:
    """Returns the child run through the filesystem jail (writable: its run dir, and what a device process must
    write, sandbox.jail_writable), except under ncu and rocprof.

    Those tools inject into the child and keep their own files and locks in /tmp and /dev/shm (not yet
    confined: the jail would break them in ways only a GPU machine can show).
    """
    if tool in (HwProfiler.ncu, HwProfiler.rocprof):
        return child
    return fsjail.wrap(child, jail_writable(rundir, platform), jail_layers())


def _wrap(tool: str, child: list[str], rundir: Path, filtered: bool) -> list[str]:
    """Returns the command running `child` under `tool` (the child itself for proton and none)."""
    if tool == HwProfiler.ncu:  # with the filter, only kernels between cudaProfilerStart and Stop are profiled
        limit = ["--profile-from-start", "off"] if filtered else []
        return [shutil.which("ncu") or "ncu", "--csv", "--target-processes", "all", "--metrics",
                ",".join(NCU_METRICS), *limit, *child, *(["--cuda-profiler-range"] if filtered else [])]
    if tool == HwProfiler.rocprof:
        if v3 := shutil.which("rocprofv3"):
            return [v3, "--kernel-trace", "--output-format", "csv", "-d", str(rundir), "-o", "trace", "--", *child]
        return [shutil.which("rocprof") or "rocprof", "--timestamp", "on", "-o", str(rundir / "results.csv"), *child]
    if tool == HwProfiler.proton:
        return [*child, "--proton", "profile"]
    return child


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout_s: float) -> str:
    """Runs cmd in its own process group with output in files; returns stdout; raises ProfilerError on failure."""
    what = Path(cmd[0]).name
    with open(cwd / "stdout.txt", "wb") as out, open(cwd / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=max(timeout_s, 0.1))
        except subprocess.TimeoutExpired:
            code = None
        finally:
            kill_group(proc, "profiler", wait_s=None)  # the tool and what the candidate left behind
    stdout = (cwd / "stdout.txt").read_text(errors="replace")
    if code is None:
        raise ProfilerError(f"{what} did not finish within the profile timeout ({max(timeout_s, 0):.0f} s left); killed. "
                            f"Raise eval.hw_profile_timeout_s or profile fewer shapes.{_tails(cwd, stdout)}")
    if code != 0:
        raise ProfilerError(f"{what} exited with code {code} while profiling the candidate.{_tails(cwd, stdout)}")
    return stdout


def _tails(rundir: Path, stdout: str) -> str:
    stderr = (rundir / "stderr.txt").read_text(errors="replace")
    return (f"\nstderr tail:\n{stderr[-STDERR_TAIL_CHARS:]}\nstdout tail:\n{stdout[-STDERR_TAIL_CHARS // 3:]}")


def _child_report(stdout: str, rundir: Path) -> ProfileReport:
    """Returns the child's report: the last line of its stdout that is a JSON object under REPORT_KEY.

    Raises ProfilerError when there is none, or when that line's report has a field missing or mistyped (named).
    """
    for line in reversed(stdout.splitlines()):
        if not line.startswith('{"' + REPORT_KEY):
            continue
        try:
            wire = json.loads(line)
        except json.JSONDecodeError:
            continue  # text that only starts like a report (a print cut short)
        try:
            return ProfileReport.from_wire(wire.get(REPORT_KEY) if isinstance(wire, dict) else wire)
        except BadMessage as exc:
            raise ProfilerError(f"the profiled process printed a malformed report line: {exc}."
                                f"{_tails(rundir, stdout)}") from exc
    raise ProfilerError(f"the profiled process printed no report line.{_tails(rundir, stdout)}")


def _kernels(tool: str, rundir: Path, stdout: str) -> list[KernelStats]:
    """Returns the parsed kernels of one run; raises ProfilerError when the tool recorded none."""
    if tool == HwProfiler.none:
        return []
    if tool == HwProfiler.ncu:
        kernels = parse_ncu_csv(stdout)
    elif tool == HwProfiler.proton:
        kernels = [k for f in sorted(rundir.glob("*.hatchet")) for k in parse_proton_hatchet(f.read_text())]
    else:
        files = sorted([*rundir.rglob("*kernel_trace.csv"), *rundir.rglob("results.csv")])
        kernels = [k for f in files for k in parse_rocprof_csv(f.read_text())]
    if not kernels:
        raise ProfilerError(f"{tool} recorded no kernel (no permission for GPU performance counters? "
                            f"ncu needs NVreg_RestrictProfilingToAdminUsers=0 or root).{_tails(rundir, stdout)}")
    return kernels
