"""Hardware profilers on a real GPU: ncu and Proton on the conv1d seed (shape b256_fp16).

Run on the H100: `python -m pytest -q -m gpu tests/gpu/test_profilers_gpu.py` (ncu tests skip without ncu
on PATH; they fail, not skip, when ncu runs but cannot read the performance counters).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from kernelevolve.eval.profile.run import profile_candidate, profile_runs
from kernelevolve.tasks.loader import resolve_task_path

pytestmark = pytest.mark.gpu

REPO = Path(__file__).resolve().parents[2]
SEED = (REPO / "knowledge_base" / "samples" / "conv1d" / "seed.py").read_text()
SHAPE = "b256_fp16"
# The seed plus one torch elementwise kernel after the Triton one (device time outside Triton).
WITH_TORCH_ADD = SEED + """

_SeedModel = ModelNew


class ModelNew(_SeedModel):
    def forward(self, x, weight, bias):
        return super().forward(x, weight, bias) + 1.0
"""
needs_ncu = pytest.mark.skipif(shutil.which("ncu") is None, reason="ncu (Nsight Compute) is not on PATH")


def _profile(tool: str, source: str, tmp_path: Path, *, calls: int, limit: bool = True) -> dict[str, float]:
    return profile_candidate(resolve_task_path("conv1d"), source, platform="cuda", tool=tool, shapes=[SHAPE],
                             workdir=tmp_path, timeout_s=300, calls=calls, limit_to_profiled_calls=limit)


@needs_ncu
def test_ncu_sees_only_the_seed_kernel_with_counters(tmp_path):
    m = _profile("ncu", SEED, tmp_path, calls=3)
    assert m["ncu.kernels"] == 1.0 and m["ncu.launches_per_call"] == 1.0
    assert m["ncu.triton_time_fraction"] == 1.0
    assert m["ncu.device_us_per_call"] > 1.0  # 256x96x96x200 fp16: tens of us
    assert 0 < m["ncu.dram_pct"] <= 100 and 0 < m["ncu.sm_pct"] <= 100 and 0 < m["ncu.occupancy_pct"] <= 100
    assert 0 < m["ncu.registers_max"] <= 255


@needs_ncu
def test_ncu_without_the_range_filter_counts_the_warm_up_call_too(tmp_path):
    (run,) = profile_runs(resolve_task_path("conv1d"), SEED, platform="cuda", tool="ncu", shapes=[SHAPE],
                          workdir=tmp_path, timeout_s=300, calls=2, limit_to_profiled_calls=False)
    assert run.calls == 3  # warm-up + 2 calls; the inputs' own kernels (built on the device) are counted too
    assert {k.name: k.calls for k in run.kernels}["_conv1d_kernel"] == 3


@needs_ncu
def test_ncu_splits_triton_from_torch_time(tmp_path):
    runs = profile_runs(resolve_task_path("conv1d"), WITH_TORCH_ADD, platform="cuda", tool="ncu", shapes=[SHAPE],
                        workdir=tmp_path, timeout_s=300, calls=2)
    (run,) = runs
    assert run.triton_names == ["_conv1d_kernel"]
    names = {k.name for k in run.kernels}
    assert "_conv1d_kernel" in names and len(names) == 2
    m = _profile("ncu", WITH_TORCH_ADD, tmp_path, calls=2)
    assert 0.05 < m["ncu.triton_time_fraction"] < 0.99 and m["ncu.launches_per_call"] == 2.0


def test_proton_times_the_seed_kernel(tmp_path):
    m = _profile("proton", SEED, tmp_path, calls=3)
    assert m["proton.launches_per_call"] == 1.0 and m["proton.triton_time_fraction"] == 1.0
    assert m["proton.device_us_per_call"] > 1.0
    m = _profile("proton", WITH_TORCH_ADD, tmp_path, calls=3)
    assert 0.05 < m["proton.triton_time_fraction"] < 0.99 and m["proton.launches_per_call"] == 2.0


def test_profile_command_prints_the_kernel_table_and_json(tmp_path, capsys):
    from kernelevolve.eval.profile.commands import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    seed = tmp_path / "seed.py"
    seed.write_text(SEED)
    args = parser.parse_args(["profile", "conv1d", str(seed), "--shape", SHAPE, "--tool", "proton",
                              "--workdir", str(tmp_path / "work")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "* _conv1d_kernel" in out and "proton.device_us_per_call" in out
    args = parser.parse_args(["profile", "conv1d", str(seed), "--shape", SHAPE, "--tool", "auto", "--json",
                              "--workdir", str(tmp_path / "work")])
    assert args.func(args) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["tool"] in ("ncu", "proton") and found["metrics"][f"{found['tool']}.triton_time_fraction"] == 1.0
