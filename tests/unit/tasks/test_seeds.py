"""Each built-in's seed kernel matches the reference on every small shape, under Triton's CPU interpreter.

All interpreter runs happen in two subprocesses (_seed_check.py, shared by interp_jobs.py) per session:
TRITON_INTERPRET must be set before triton is first imported, which another test in the same session may already
have done.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from kernelevolve.tasks import ShapeSet, load_task
from tests.unit.tasks.interp_jobs import in_job_order, run_jobs
from tests.unit.tasks.step_down import step_down

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parents[2] / "knowledge_base" / "samples"
SEEDED = ("wukong_fm", "interformer_pffn", "map_id", "mbdt", "batch_event_truncate", "rmsnorm_bwd")
# Tunables forced to extremes so the loops and paths the default tiles skip on tiny shapes run too.
EXTRA_JOBS = {
    "rmsnorm_bwd_chunked_rows": {"task": "rmsnorm_bwd", "overrides": {"MAX_BLOCK_N": 16},
                                 "shapes": ["m2_n300", "m67_n5_fp32", "m3_n17"], "seeds": [2]},
    "pffn_16_row_floor": {"task": "interformer_pffn", "overrides": {"MAX_ACC_ELEMS": 256}, "shapes": ["k_wide"]},
    "map_id_many_blocks": {"task": "map_id", "overrides": {"BLOCK": 16}, "shapes": ["u100_n257_negative_ids"]},
    "truncate_tiny_blocks": {"task": "batch_event_truncate", "shapes": ["f3_u7_e9_n4", "fig18"], "seeds": [1],
                             "overrides": {"SCAN_BLOCK": 2, "BLOCK_E": 2, "BLOCK_V": 2}},
    "wukong_small_tiles": {"task": "wukong_fm", "overrides": {"BLOCK_N": 16, "BLOCK_M": 16, "BLOCK_D": 16,
                                                              "BLOCK_K": 16}, "shapes": ["n70_fp32", "tail_fp16"]},
    "mbdt_narrow_border_steps": {"task": "mbdt", "overrides": {"BLOCK_B": 16, "BLOCK_K": 2},
                                 "shapes": ["ragged_wide", "fig16"]},
}

# Structural seeds (samples/<task>/seed_*.py, the offline operator's alternative starting points), with every
# float input a view into a NaN-padded buffer so an unmasked read past an input's ends fails the comparison.
_CONV_ODD = {"c37_o41_l29_fp16": {"B": 3, "Cin": 37, "Cout": 41, "L": 29, "K": 3, "dtype": "float16"},
             "c20_o100_k5_fp32": {"B": 2, "Cin": 20, "Cout": 100, "L": 23, "K": 5, "dtype": "float32"}}
_CONV_TMA = {"c37_o41_l40_fp16": {"B": 3, "Cin": 37, "Cout": 41, "L": 40, "K": 3, "dtype": "float16"},
             "c32_o24_l24_fp16": {"B": 3, "Cin": 32, "Cout": 24, "L": 24, "K": 3, "dtype": "float16"},
             "c20_o100_l28_k5_fp32": {"B": 2, "Cin": 20, "Cout": 100, "L": 28, "K": 5, "dtype": "float32"}}
STRUCTURAL_JOBS = {
    "conv1d_implicit_gemm": {"task": "conv1d", "file": "seed_implicit_gemm.py", "seeds": [0, 1], "guard": True,
                             "extra_shapes": _CONV_ODD},
    "conv1d_implicit_gemm_halo_gather": {"task": "conv1d", "file": "seed_implicit_gemm.py", "seeds": [3],
                                         "guard": True, "extra_shapes": _CONV_ODD, "overrides": {"HALO_GATHER": 1}},
    # several L tiles (halo rows from both neighbours, shifts of 2 at K = 5), reduction chunks, channel tiles over
    # a grid axis, 2 samples per program with a tail, strided W
    "conv1d_implicit_gemm_small_tiles": {
        "task": "conv1d", "file": "seed_implicit_gemm.py", "seeds": [2], "guard": True, "extra_shapes": _CONV_ODD,
        "shapes": [*_CONV_ODD, "tail_fp16"],
        "overrides": {"BLOCK_L": 16, "BLOCK_CI": 16, "MAX_CO": 16, "B_PER_PROG": 2, "PACK_W": 0, "HALO_GATHER": 1}},
    "conv1d_implicit_gemm_small_tiles_loads": {
        "task": "conv1d", "file": "seed_implicit_gemm.py", "seeds": [4], "guard": True, "extra_shapes": _CONV_ODD,
        "shapes": list(_CONV_ODD), "overrides": {"BLOCK_L": 16, "BLOCK_CI": 16, "MAX_CO": 16, "B_PER_PROG": 2}},
    # fp32 through IEEE FMAs (the default is 3xTF32 on tensor cores; the interpreter runs both in fp32)
    "conv1d_implicit_gemm_ieee_fp32": {"task": "conv1d", "file": "seed_implicit_gemm.py", "seeds": [5], "guard": True,
                                       "extra_shapes": _CONV_ODD, "shapes": ["c20_o100_k5_fp32", "tiny"],
                                       "overrides": {"FP32_TF32": 0}},
    # seed_tma.py: shapes TMA can describe (fp16 L % 8 == 0, fp32 L % 4 == 0) run the descriptor path, the odd ones
    # its masked fallback; small tiles walk several tiles per program (persistent grid) and the 2-D x descriptor
    "conv1d_tma": {"task": "conv1d", "file": "seed_tma.py", "seeds": [0, 1], "guard": True,
                   "extra_shapes": _CONV_ODD | _CONV_TMA},
    "conv1d_tma_small_tiles": {
        "task": "conv1d", "file": "seed_tma.py", "seeds": [2], "guard": True, "extra_shapes": _CONV_ODD | _CONV_TMA,
        "shapes": [*_CONV_TMA, "c37_o41_l29_fp16"],
        "overrides": {"BLOCK_L": 16, "BLOCK_CI": 16, "MAX_CO": 16, "PROGS_PER_SM": 2, "X_2D": 1, "STORE_TMA": 0}},
    # output-channel tiles over the grid (the OOD shape's path), the last one clipped at Cout by the y descriptor
    "conv1d_tma_channel_tiles": {"task": "conv1d", "file": "seed_tma.py", "seeds": [3], "guard": True,
                                 "extra_shapes": _CONV_TMA, "shapes": ["c37_o41_l40_fp16", "c20_o100_l28_k5_fp32"],
                                 "overrides": {"MAX_CO": 16, "BLOCK_L": 16, "PROGS_PER_SM": 1}},
    # TAP_TMA=2: aligned TMA boxes only (centre + HALO columns either side, negative coordinates at l0 = 0), shifted
    # taps by gathers; with 16-wide tiles a halo comes from the neighbouring tile's columns, and K = 5 shifts by 2
    "conv1d_tma_halo_gather": {"task": "conv1d", "file": "seed_tma.py", "seeds": [4], "guard": True,
                               "extra_shapes": _CONV_TMA, "shapes": list(_CONV_TMA), "overrides": {"TAP_TMA": 2}},
    "conv1d_tma_halo_gather_small_tiles": {
        "task": "conv1d", "file": "seed_tma.py", "seeds": [6], "guard": True, "extra_shapes": _CONV_TMA,
        "shapes": list(_CONV_TMA), "overrides": {"TAP_TMA": 2, "BLOCK_L": 16, "BLOCK_CI": 16, "X_2D": 1,
                                                 "PROGS_PER_SM": 1}},
    "conv1d_tma_ieee_fp32": {"task": "conv1d", "file": "seed_tma.py", "seeds": [5], "guard": True,
                             "extra_shapes": _CONV_ODD | _CONV_TMA, "shapes": ["c20_o100_l28_k5_fp32", "tiny"],
                             "overrides": {"FP32_TF32": 0, "PROGS_PER_SM": 1}},
    "wukong_batched_gram": {"task": "wukong_fm", "file": "seed_batched_gram.py", "seeds": [0, 1], "guard": True},
    "wukong_batched_gram_split": {"task": "wukong_fm", "file": "seed_batched_gram.py", "seeds": [2], "guard": True,
                                  "overrides": {"BLOCK_B": 4, "BLOCK_N": 16, "BLOCK_D": 16, "BLOCK_K": 16,
                                                "K_SPLIT": 2}},
    "pffn_shared_x": {"task": "interformer_pffn", "file": "seed_shared_x.py", "seeds": [0, 1], "guard": True},
    # one module for every call: the dw accumulator and ticket counter it keeps per (device, N) must be left zeroed
    "rmsnorm_bwd_one_launch": {"task": "rmsnorm_bwd", "file": "seed_one_launch.py", "seeds": [0, 1], "guard": True},
    # 16-element tiles: several programs per call, so dw is summed from several partials by the last to arrive
    "rmsnorm_bwd_one_launch_many_programs": {"task": "rmsnorm_bwd", "file": "seed_one_launch.py", "seeds": [2, 3],
                                             "guard": True, "overrides": {"TILE_ELEMS": 16}},
    "rmsnorm_bwd_one_launch_no_prefetch": {"task": "rmsnorm_bwd", "file": "seed_one_launch.py", "seeds": [4],
                                           "guard": True, "overrides": {"TILE_ELEMS": 16, "PREFETCH": 0}},
    "rmsnorm_bwd_one_launch_chunked_rows": {"task": "rmsnorm_bwd", "file": "seed_one_launch.py", "seeds": [5],
                                            "guard": True, "overrides": {"MAX_BLOCK_N": 16},
                                            "shapes": ["m2_n300", "m67_n5_fp32", "m3_n17"]},
    "pffn_shared_x_chained_tiles": {"task": "interformer_pffn", "file": "seed_shared_x.py", "seeds": [2],
                                    "guard": True, "overrides": {"TILES_PER_PROG": 4, "BLOCK_N": 16, "BLOCK_D": 16,
                                                                 "MAX_ACC_ELEMS": 256}},
}


@pytest.fixture(scope="module")
def interpreter_results() -> dict[str, list[dict]]:
    """Returns results per job key, from two interpreter subprocesses for the whole module."""
    jobs = {name: {"task": name, "seeds": [0, 1]} for name in SEEDED} | EXTRA_JOBS | STRUCTURAL_JOBS
    shares = run_jobs([sys.executable, str(HERE / "_seed_check.py")], list(jobs.values()))
    return dict(zip(jobs, in_job_order(shares), strict=True))


def _small_cases():
    return [(n, s) for n in SEEDED for h in (False, True) for s in load_task(n).shapes(ShapeSet.SMALL, heldout=h)]


@pytest.mark.parametrize(("name", "shape"), _small_cases())
def test_seed_matches_reference_on_small_shapes(interpreter_results, name, shape):
    results = [r for r in interpreter_results[name] if r["shape"] == shape]
    assert {r["seed"] for r in results} == {0, 1}
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]]


@pytest.mark.parametrize("job", sorted(EXTRA_JOBS))
def test_seed_paths_forced_by_extreme_tunables(interpreter_results, job):
    results = interpreter_results[job]
    assert {r["shape"] for r in results} == set(EXTRA_JOBS[job]["shapes"])
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]]


@pytest.mark.parametrize("job", sorted(STRUCTURAL_JOBS))
def test_structural_seed_matches_reference_with_guarded_inputs(interpreter_results, job):
    results = interpreter_results[job]
    spec = STRUCTURAL_JOBS[job]
    task = load_task(spec["task"])
    want = set(spec.get("shapes") or [*(s for h in (False, True) for s in task.shapes(ShapeSet.SMALL, heldout=h)),
                                      *spec.get("extra_shapes", {})])
    assert {r["shape"] for r in results} == want
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]]


@pytest.mark.parametrize("path", sorted(p.relative_to(SAMPLES).as_posix() for p in SAMPLES.glob("*/seed*.py")))
def test_seed_exposes_tunables_for_the_offline_operator(path):
    spec = importlib.util.spec_from_file_location(f"tunables_{path.replace('/', '_')[:-3]}", SAMPLES / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defining @triton.jit kernels needs no device
    assert module.TUNABLE_SPACE and hasattr(module, "ModelNew")
    for key, choices in module.TUNABLE_SPACE.items():
        assert getattr(module, key) in choices, key  # the default is one of its own choices


def test_implicit_gemm_seed_steps_down_stages_then_chunk_width_when_the_tile_does_not_fit(tmp_path):
    out = step_down(SAMPLES / "conv1d" / "seed_implicit_gemm.py", ["num_stages", "BLOCK_CI"],
                    "num_stages > 1 or BLOCK_CI > 16", {"NUM_STAGES": 3, "BLOCK_CI": 64}, tmp_path)
    assert out["tried"] == [[3, 64], [2, 64], [1, 64], [1, 32], [1, 16]]
    assert out["again"] == [[1, 16]]  # the fitted config is remembered for the shape: no second descent
    assert out["err"] < 1e-4 and out["err2"] < 1e-4
