"""`kernelevolve profile`: the kernel table and the CLI on CPU (no profiler there: tool none)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernelevolve.cli import main
from kernelevolve.eval.profile.commands import format_kernels
from kernelevolve.eval.profile.run import KernelStats, parse_ncu_csv

REPO = Path(__file__).resolve().parents[3]
SEED = REPO / "knowledge_base" / "samples" / "conv1d" / "seed.py"


def test_table_lists_kernels_slowest_first_and_marks_triton_ones():
    kernels = parse_ncu_csv((REPO / "tests" / "fixtures" / "profilers" / "ncu_sample.csv").read_text())
    lines = format_kernels(kernels, ["_add_kernel"], calls=3).splitlines()
    assert lines[0].split() == ["kernel", "calls", "us/call", "dram", "%", "sm", "%", "occ", "%", "regs"]
    assert "CUDAFunctor" in lines[1] and lines[1].split()[-6:] == ["5", "105.71", "86.4", "5.0", "80.9", "32"]
    assert lines[2].split() == ["*", "_add_kernel", "3", "63.07", "86.8", "5.1", "80.8", "26"]
    assert all(len(line) < 130 for line in lines)  # 1000-character torch names are cut


def test_table_shows_dashes_for_missing_counters():
    (row,) = format_kernels([KernelStats(name="_k", calls=2, time_ns=1000.0)], [], calls=2).splitlines()[1:]
    assert row.split() == ["_k", "2", "0.50", "-", "-", "-", "-"]


def test_unknown_shape_and_missing_file_are_usage_errors(tmp_path, capsys):
    assert main(["profile", "conv1d", str(SEED), "--shape", "nope", "--tool", "none"]) == 2
    assert "unknown shape" in capsys.readouterr().out
    assert main(["profile", "conv1d", str(tmp_path / "missing.py")]) == 2


def test_a_missing_named_tool_is_an_error(capsys):
    assert main(["profile", "conv1d", str(SEED), "--tool", "ncu", "--platform", "cpu"]) == 2
    assert "'ncu' is not available" in capsys.readouterr().err


@pytest.mark.slow
def test_auto_on_cpu_runs_without_a_profiler_and_prints_json(tmp_path, capsys):
    assert main(["profile", "conv1d", str(SEED), "--platform", "cpu", "--calls", "1", "--json",
                 "--workdir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tool"] == "none" and out["metrics"] == {"none.triton_kernels": 1.0}
    assert [(s["shape"], s["triton_names"]) for s in out["shapes"]] == [("tiny", ["_conv1d_kernel"])]
