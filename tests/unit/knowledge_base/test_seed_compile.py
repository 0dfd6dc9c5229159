"""The structural seeds compile for the H100 (sm_90a) at their headline shapes, spill-free, on tensor cores.

The CPU interpreter accepts code the GPU compiler rejects (and never says a tile spills registers), so this
compiles the kernels each seed's launcher would launch, with benchmarks/static_profile.py (triton.compile for
cuda:90 plus the ptxas Triton bundles), without a GPU.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "knowledge_base" / "samples"
_spec = importlib.util.spec_from_file_location("static_profile", ROOT / "benchmarks" / "static_profile.py")
static_profile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(static_profile)

CASES = [  # (task, seed file, headline shape, tunable overrides, tensor-core instruction the main kernel must use)
    ("conv1d", "conv1d/seed_implicit_gemm.py", "b2048_fp16", {}, "wgmma"),
    ("conv1d", "conv1d/seed_implicit_gemm.py", "b2048_fp16", {"HALO_GATHER": 1, "NUM_WARPS": 8}, "wgmma"),
    ("wukong_fm", "wukong_fm/seed_batched_gram.py", "b1024_n48_k448", {}, "mma_sync"),  # 3-D tl.dot: mma.sync
    ("interformer_pffn", "interformer_pffn/seed_shared_x.py", "b1024_n200_d256_k160", {}, "wgmma"),
]


@pytest.mark.slow
@pytest.mark.skipif(not static_profile.PTXAS.is_file(), reason="this Triton build bundles no ptxas")
@pytest.mark.parametrize(("task", "seed", "shape", "overrides", "mma"), CASES)
def test_structural_seed_compiles_for_sm90_without_spills(task, seed, shape, overrides, mma):
    rows = static_profile.profile(task, SAMPLES / seed, shape, overrides)
    main = max(rows, key=lambda r: r["shared_bytes"])
    assert all(r["spill_bytes"] == 0 for r in rows), rows
    assert main[mma] > 0 and main["cp_async"] > 0, main  # tensor cores, and loads pipelined through shared memory
    assert main["shared_bytes"] <= 228 * 1024 // 2, main  # two programs fit one SM's 228 KB


@pytest.mark.slow
@pytest.mark.skipif(not static_profile.PTXAS.is_file(), reason="this Triton build bundles no ptxas")
@pytest.mark.parametrize(("overrides", "min_tma"), [({}, 2), ({"PROGS_PER_SM": 2}, 2),
                                                   ({"TAP_TMA": 2, "X_2D": 1, "NUM_WARPS": 8}, 6)])
def test_tma_seed_issues_tensor_copies_for_sm90(overrides, min_tma):
    """seed_tma.py's x tiles (the centre tap, or centre and halo boxes) and y tiles go through cp.async.bulk.tensor."""
    rows = static_profile.profile("conv1d", SAMPLES / "conv1d/seed_tma.py", "b2048_fp16", overrides)
    main = max(rows, key=lambda r: r["shared_bytes"])
    assert all(r["spill_bytes"] == 0 for r in rows), rows
    assert main["wgmma"] > 0 and main["tma"] >= min_tma, main
