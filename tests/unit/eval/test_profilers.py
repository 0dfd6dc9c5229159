"""Hardware profilers: parsers on real H100 output, summaries, and the sandboxed child on CPU (tool none)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kernelevolve.core.errors import ProfilerError, ProfilerUnavailableError
from kernelevolve.eval import fsjail
from kernelevolve.eval.profile import run
from kernelevolve.eval.profile.parsers import merge_kernels
from kernelevolve.eval.profile.run import (
    KernelStats,
    available_profilers,
    parse_ncu_csv,
    parse_proton_hatchet,
    parse_rocprof_csv,
    profile_candidate,
    profile_runs,
    resolve_tool,
    summarize,
)
from kernelevolve.tasks.loader import resolve_task_path

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "profilers"
SEED = REPO / "knowledge_base" / "samples" / "conv1d" / "seed.py"
ADD = "_add_kernel"
VEC_ADD = "void at::vectorized_elementwise_kernel<4, at::CUDAFunctor_add<float>, std::array<char *, 3>>(int, T2, T3)"


def _by_name(kernels: list[KernelStats]) -> dict[str, KernelStats]:
    return {k.name: k for k in kernels}


# ---- ncu ----

def test_ncu_csv_groups_launches_by_kernel_and_strips_thousands_separators():
    kernels = parse_ncu_csv((FIXTURES / "ncu_sample.csv").read_text())
    assert len(kernels) == 5  # randn, _add_kernel, torch add, abs, max-reduce
    found = _by_name(kernels)
    add = found[ADD]  # launches 2, 4, 6
    assert add.calls == 3
    assert add.time_ns == 62592 + 63328 + 63296
    assert add.registers == 26
    assert add.dram_pct == pytest.approx((87.61 * 62592 + 86.35 * 63328 + 86.44 * 63296) / 189216)
    assert add.sm_pct == pytest.approx((5.14 * 62592 + 5.07 * 63328 + 5.07 * 63296) / 189216)
    assert add.occupancy_pct == pytest.approx((80.66 * 62592 + 80.50 * 63328 + 81.16 * 63296) / 189216)
    vec = found[VEC_ADD]  # launches 3, 5, 7, 8, 9 (launch 10 is AbsFunctor: another kernel)
    assert vec.calls == 5 and vec.time_ns == 63904 + 63040 + 63520 + 62944 + 63712 and vec.registers == 32
    assert sum(k.time_ns for k in kernels) == 684896  # 104352 + 189216 + 317120 + 41760 + 32448
    assert sum(k.calls for k in kernels) == 12


def test_ncu_summary_describes_the_triton_kernels_only():
    kernels = parse_ncu_csv((FIXTURES / "ncu_sample.csv").read_text())
    m = summarize(kernels, [ADD, "_never_launched"], prefix="ncu", calls=3)
    assert m["ncu.kernels"] == 5.0 and m["ncu.triton_kernels"] == 2.0
    assert m["ncu.triton_time_fraction"] == pytest.approx(189216 / 684896)
    assert m["ncu.device_us_per_call"] == pytest.approx(684.896 / 3)
    assert m["ncu.triton_us_per_call"] == pytest.approx(189.216 / 3)
    assert m["ncu.launches_per_call"] == pytest.approx(4.0)
    assert m["ncu.dram_pct"] == pytest.approx(_by_name(kernels)[ADD].dram_pct)
    assert m["ncu.registers_max"] == 26.0  # not 44 (the randn kernel) nor 32 (torch's add)


def test_ncu_parser_ignores_program_output_and_tool_lines_after_the_header():
    text = (FIXTURES / "ncu_sample.csv").read_text()
    lines = text.splitlines()
    noisy = "\n".join([*lines[:5], "==WARNING== something", "program says hi, twice", *lines[5:],
                       '{"kernelevolve_profile": {"calls": 3}}'])
    assert parse_ncu_csv(noisy) == parse_ncu_csv(text)


def test_ncu_time_units_other_than_ns_are_converted():
    header = '"ID","Process ID","Kernel Name","Metric Name","Metric Unit","Metric Value"'
    rows = ['"0","1","k","gpu__time_duration.sum","usecond","1,250.5"',
            '"1","1","k","gpu__time_duration.sum","ms","0.002"',
            '"1","1","k","dram__throughput.avg.pct_of_peak_sustained_elapsed","%","n/a"']
    (k,) = parse_ncu_csv("\n".join([header, *rows]))
    assert k.calls == 2 and k.time_ns == pytest.approx(1_250_500 + 2_000) and k.dram_pct is None


def test_output_without_an_ncu_table_gives_no_kernels():
    assert parse_ncu_csv("==PROF== Connected\n==ERROR== ERR_NVGPUCTRPERM\n") == []


# ---- proton ----

def test_proton_hatchet_leaves_are_the_kernels():
    kernels = _by_name(parse_proton_hatchet((FIXTURES / "proton_sample.hatchet").read_text()))
    assert set(kernels) == {ADD, "_ZN2at6native29vectorized_elementwise_kernelILi4ENS0_15CUDAFunctor_addIfEESt5arrayIPcLm3EEEEviT0_T1_"}
    assert kernels[ADD].calls == 3 and kernels[ADD].time_ns == 203622
    m = summarize(list(kernels.values()), [ADD], prefix="proton", calls=3)
    assert m["proton.triton_time_fraction"] == pytest.approx(203622 / (203622 + 202115))
    assert m["proton.device_us_per_call"] == pytest.approx((203622 + 202115) / 1e3 / 3)
    assert "proton.dram_pct" not in m  # proton has no hardware counters here


def test_proton_scopes_are_not_double_counted():
    leaf = {"frame": {"name": ADD, "type": "function"}, "children": [], "metrics": {"count": 2, "time (ns)": 100}}
    scope = {"frame": {"name": "profiled_calls"}, "children": [leaf], "metrics": {"count": 2, "time (ns)": 100}}
    empty_scope = {"frame": {"name": "host_only"}, "children": [], "metrics": {"count": 0, "time (ns)": 0}}
    root = {"frame": {"name": "ROOT"}, "children": [scope, empty_scope], "metrics": {"count": 0, "time (ns)": 0}}
    (k,) = parse_proton_hatchet([root, {"CUDA": {}}])
    assert (k.name, k.calls, k.time_ns) == (ADD, 2, 100.0)


# ---- rocprof (columns from the rocprofiler-sdk docs; unverified on ROCm hardware) ----

def test_rocprofv3_kernel_trace_durations_and_vgprs():
    kernels = _by_name(parse_rocprof_csv((FIXTURES / "rocprofv3_kernel_trace.csv").read_text()))
    conv = kernels["_conv1d_kernel"]
    assert conv.calls == 3 and conv.time_ns == 11040 + 9720 + 0 and conv.registers == 72
    (fill,) = [k for name, k in kernels.items() if "FillFunctor" in name]
    assert fill.time_ns == 11040 and fill.registers == 8
    m = summarize(list(kernels.values()), ["_conv1d_kernel"], prefix="rocprof", calls=2)
    assert m["rocprof.triton_time_fraction"] == pytest.approx(20760 / 31800)


def test_legacy_rocprof_results_and_foreign_csvs():
    legacy = "Index,KernelName,gpu-id,BeginNs,EndNs,arch_vgpr\n0,\"_k\",0,100,350,40\n1,\"_k\",0,400,500,40\n"
    (k,) = parse_rocprof_csv(legacy)
    assert (k.calls, k.time_ns, k.registers) == (2, 350.0, 40)
    copies = '"Kind","Direction","Start_Timestamp","End_Timestamp"\n"MEMORY_COPY","HOST_TO_DEVICE",1,9\n'
    assert parse_rocprof_csv(copies) == []


# ---- summaries ----

def test_summary_edge_cases_zero_time_and_no_triton_kernel():
    zero = [KernelStats(name="_k", calls=2, time_ns=0.0, dram_pct=40.0), KernelStats(name="_k2", calls=1,
                                                                                  time_ns=0.0, dram_pct=80.0)]
    m = summarize(zero, ["_k", "_k2"], prefix="ncu", calls=1)
    assert m["ncu.triton_time_fraction"] == 0.0 and m["ncu.dram_pct"] == pytest.approx(60.0)  # plain mean
    torch_only = [KernelStats(name="void at::add(int)", calls=1, time_ns=500.0, sm_pct=90.0)]
    m = summarize(torch_only, ["_k"], prefix="ncu", calls=1)
    assert m["ncu.triton_time_fraction"] == 0.0 and "ncu.sm_pct" not in m and "ncu.registers_max" not in m
    assert summarize([], [], prefix="proton", calls=1)["proton.device_us_per_call"] == 0.0
    with pytest.raises(ValueError, match="calls"):
        summarize([], [], prefix="ncu", calls=0)


def test_summary_weights_counters_by_time_across_triton_kernels():
    kernels = [KernelStats(name="_a", calls=1, time_ns=300.0, dram_pct=90.0, registers=40),
               KernelStats(name="_b(int)", calls=1, time_ns=100.0, dram_pct=10.0, registers=255),
               KernelStats(name="cutlass_gemm", calls=1, time_ns=600.0, dram_pct=5.0, registers=96)]
    m = summarize(kernels, ["_a", "_b"], prefix="ncu", calls=1)
    assert m["ncu.dram_pct"] == pytest.approx((90 * 300 + 10 * 100) / 400)
    assert m["ncu.triton_time_fraction"] == pytest.approx(0.4) and m["ncu.registers_max"] == 255.0


def test_merging_runs_weights_by_time_and_keeps_max_registers():
    a = KernelStats(name="_k", calls=3, time_ns=300.0, occupancy_pct=50.0, registers=32)
    b = KernelStats(name="_k", calls=3, time_ns=100.0, occupancy_pct=90.0, registers=40)
    (k,) = merge_kernels([a, b])
    assert (k.calls, k.time_ns, k.registers) == (6, 400.0, 40) and k.occupancy_pct == pytest.approx(60.0)


def test_metrics_of_several_shapes_pools_and_suffixes():
    runs = [run.ProfileRun(shape=s, tool="proton", calls=3, triton_names=["_k"],
                                 kernels=[KernelStats(name="_k", calls=3, time_ns=t)]) for s, t in (("a", 300.0),
                                                                                                    ("b", 900.0))]
    m = run.metrics_of(runs)
    assert m["proton.device_us_per_call"] == pytest.approx(1.2 / 6) and m["proton.kernels"] == 1.0
    assert m["proton.device_us_per_call.a"] == pytest.approx(0.1) and m["proton.device_us_per_call.b"] == 0.3


# ---- availability ----

def test_no_profiler_on_cpu_or_mtia_and_ncu_only_with_the_binary(monkeypatch):
    assert available_profilers("cpu") == [] and available_profilers("mtia") == []
    monkeypatch.setattr(run.shutil, "which", lambda name: "/opt/bin/ncu" if name == "ncu" else None)
    assert available_profilers("cuda") == ["ncu", "proton"]  # triton.profiler imports here
    assert available_profilers("rocm") == ["proton"]
    monkeypatch.setattr(run.shutil, "which", lambda name: None)
    assert resolve_tool("auto", "cuda") == "proton"
    with pytest.raises(ProfilerUnavailableError, match="'ncu' is not available"):
        resolve_tool("ncu", "cuda")
    with pytest.raises(ProfilerUnavailableError, match="no hardware profiler"):
        resolve_tool("auto", "cpu")
    assert resolve_tool("none", "cpu") == "none"
    assert run.choose_tool("auto", "cpu") is None and run.choose_tool("none", "cuda") is None
    assert run.choose_tool("auto", "cuda") == "proton"
    with pytest.raises(ProfilerUnavailableError):
        run.choose_tool("rocprof", "rocm")  # asked for by name: fail loud


def test_a_missing_tool_fails_before_starting_anything(tmp_path):
    with pytest.raises(ProfilerUnavailableError, match="ncu"):
        profile_candidate(resolve_task_path("conv1d"), "", platform="cpu", tool="ncu", shapes=["tiny"],
                          workdir=tmp_path, timeout_s=5)
    assert list(tmp_path.iterdir()) == []


# ---- the sandboxed child on CPU (interpreter, no profiler) ----

def _leak_env(path: Path) -> str:
    return SEED.read_text() + textwrap.dedent(f"""
        import json as _json, os as _os
        with open({str(path)!r}, "w") as _f:
            _json.dump({{"env": dict(_os.environ), "cwd": _os.getcwd()}}, _f)
        """)


@pytest.mark.slow
def test_child_runs_the_seed_and_reports_its_triton_kernel_without_secrets(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "jail_layers", tuple)  # the child reports through a file outside its jail
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-leak")
    leak = tmp_path / "env.json"
    runs = profile_runs(resolve_task_path("conv1d"), _leak_env(leak), platform="cpu", tool="none",
                        shapes=["tiny"], workdir=tmp_path / "work", timeout_s=120, calls=2)
    assert [(r.shape, r.tool, r.calls, r.triton_names, r.kernels) for r in runs] == \
        [("tiny", "none", 2, ["_conv1d_kernel"], [])]
    seen = json.loads(leak.read_text())
    assert "OPENAI_API_KEY" not in seen["env"] and "AWS_SECRET_ACCESS_KEY" not in seen["env"]
    assert seen["env"]["TRITON_INTERPRET"] == "1" and seen["env"]["HOME"] == seen["cwd"]
    assert not os.path.exists(seen["cwd"])  # the private dir is gone
    assert run.metrics_of(runs) == {"none.triton_kernels": 1.0}


@pytest.mark.slow
@pytest.mark.skipif(not fsjail.probe().layers, reason=fsjail.probe().describe())
def test_the_profiled_candidate_cannot_write_outside_its_run_dir(tmp_path):
    escaped = tmp_path / "escaped.txt"
    source = SEED.read_text() + textwrap.dedent(f"""
        try:
            open({str(escaped)!r}, "w").write("planted")
        except OSError:
            pass
        """)
    runs = profile_runs(resolve_task_path("conv1d"), source, platform="cpu", tool="none", shapes=["tiny"],
                        workdir=tmp_path / "work", timeout_s=120, calls=1)
    assert [r.triton_names for r in runs] == [["_conv1d_kernel"]]  # it ran, and profiled
    assert not escaped.exists()


@pytest.mark.slow
def test_a_failing_candidate_raises_with_the_stderr_tail(tmp_path):
    with pytest.raises(ProfilerError, match=r"exited with code 1(.|\n)*ZeroDivisionError"):
        profile_candidate(resolve_task_path("conv1d"), SEED.read_text() + "\n1 / 0\n", platform="cpu",
                          tool="none", shapes=["tiny"], workdir=tmp_path, timeout_s=120)


def test_a_hung_tool_is_killed_with_its_children_at_the_timeout(tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    with pytest.raises(ProfilerError, match="did not finish(.|\n)*started"):
        run._run(["bash", "-c", f"sleep 300 & echo $! > {pidfile}; echo started >&2; sleep 300"],
                       cwd=tmp_path, env=dict(os.environ), timeout_s=1.0)
    pid = int(pidfile.read_text())
    assert _state_after_kill(pid) in ("gone", "Z")  # the grandchild in the tool's process group died too


def _state_after_kill(pid: int, deadline_s: float = 10.0) -> str:
    """Returns the process's state once it is dead or a zombie, or its last state at the deadline (a SIGKILL is
    delivered asynchronously: right after the call a busy machine may still show it running)."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            return "gone"
        if state == "Z" or time.monotonic() > end:
            return state
        time.sleep(0.05)


FAKE_NCU = """#!{python}
# Stands in for ncu on a CPU box: runs the child on the interpreter, then prints the real H100 sample table
# with the sample's Triton kernel renamed to the candidate's.
import os, subprocess, sys
args = sys.argv[1:]
assert args[:4] == ["--csv", "--target-processes", "all", "--metrics"], args
assert "gpu__time_duration.sum" in args[4] and args[5:7] == ["--profile-from-start", "off"], args
child = [a for a in args[7:] if a != "--cuda-profiler-range"]
child[child.index("--platform") + 1] = "cpu"
print("==PROF== Connected to process 1", flush=True)
code = subprocess.call(child, env=dict(os.environ, TRITON_INTERPRET="1"))
sys.stdout.write(open({sample!r}).read().replace('"_add_kernel"', '"_conv1d_kernel"'))
sys.exit(code)
"""


@pytest.mark.slow
def test_ncu_plumbing_with_a_stand_in_tool(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    ncu = bindir / "ncu"
    ncu.write_text(FAKE_NCU.format(python=sys.executable, sample=str(FIXTURES / "ncu_sample.csv")))
    ncu.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    m = profile_candidate(resolve_task_path("conv1d"), SEED.read_text(), platform="cuda", tool="auto",
                          shapes=["tiny"], workdir=tmp_path / "work", timeout_s=120, calls=3)
    assert m["ncu.triton_time_fraction"] == pytest.approx(189216 / 684896)
    assert m["ncu.device_us_per_call"] == pytest.approx(684.896 / 3) and m["ncu.registers_max"] == 26.0


def test_child_names_triton_kernels_through_autotune_and_heuristics_wrappers():
    import types

    import triton
    import triton.language as tl

    from kernelevolve.eval.profile.main import triton_kernel_names

    @triton.jit
    def _plain(x):
        pass

    @triton.autotune(configs=[triton.Config({})], key=[])
    @triton.heuristics({"B": lambda args: 1})
    @triton.jit
    def _wrapped(x, B: tl.constexpr):
        pass

    def _python_helper():
        pass

    module = types.ModuleType("cand")
    module.__dict__.update(k1=_plain, k2=_wrapped, alias=_plain, helper=_python_helper, n=3)
    assert triton_kernel_names(module) == ["_plain", "_wrapped"]


# ---- the child's report line (a ProfileReport, read back field by field) ----

REPORT = '{"kernelevolve_profile": {"shape": "tiny", "calls": 2, "triton_kernels": ["_conv1d_kernel"]}}'


def test_the_last_report_line_is_read_and_one_cut_short_is_skipped(tmp_path):
    (tmp_path / "stderr.txt").write_text("")  # the run's stderr, whose tail an error carries
    stdout = "\n".join([REPORT.replace("_conv1d", "_older"), "program output", REPORT, '{"kernelevolve_profile": {"sh'])
    report = run._child_report(stdout, tmp_path)
    assert (report.shape, report.calls, report.triton_kernels) == ("tiny", 2, ["_conv1d_kernel"])
    with pytest.raises(ProfilerError, match="printed no report line"):
        run._child_report("only program output\n{\"kernelevolve_profile\": {", tmp_path)


@pytest.mark.parametrize(("line", "words"), [
    ('{"kernelevolve_profile": {"shape": "tiny", "calls": 2}}', "ProfileReport has no 'triton_kernels' field"),
    ('{"kernelevolve_profile": {"shape": "tiny", "calls": "2", "triton_kernels": []}}',
     "ProfileReport.calls must be int, got str"),
    ('{"kernelevolve_profile": {"shape": "tiny", "calls": 2, "triton_kernels": "_k"}}',
     r"ProfileReport.triton_kernels must be list\[str\], got str"),
    ('{"kernelevolve_profile": ["tiny", 2]}', "a ProfileReport must be a JSON object, got list"),
])
def test_a_malformed_report_line_is_refused_with_the_field_named(tmp_path, line, words):
    (tmp_path / "stderr.txt").write_text("")
    with pytest.raises(ProfilerError, match=f"printed a malformed report line: {words}"):
        run._child_report(f"{REPORT}\n{line}\n", tmp_path)
