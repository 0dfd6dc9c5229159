"""seed_wstat.py (conv1d, weights as the MMA's A operand) against the reference under the CPU interpreter.

Two subprocesses share the jobs (interp_jobs.py; TRITON_INTERPRET must be set before triton is first imported) and
run them through _seed_check.run_job, with NaN-guarded inputs so an unmasked read past an input's ends fails the
comparison, and records each launch's path (TMA or pointer, resident weights, unrolled chunks, channel tiles) so the
tests can say every path was taken. Shapes are tiny: odd L (tail tiles, the non-TMA fallback), Cin not a multiple of
BLOCK_CI, Cout not a power of two and wider than MAX_CO, K in {1, 3, 5}, fp16 and fp32.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from tests.unit.tasks.interp_jobs import in_job_order, run_jobs
from tests.unit.tasks.step_down import step_down

HERE = Path(__file__).resolve().parent
SEED = HERE.parents[2] / "knowledge_base" / "samples" / "conv1d" / "seed_wstat.py"
SWEEP_SCRIPT = HERE.parents[2] / "benchmarks" / "gpu_conv1d_wstat.sh"

SCRIPT = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
import _seed_check  # sets TRITON_INTERPRET before triton is imported

launches = []
load_seed = _seed_check._load_seed


def recording_load(name, overrides, file="seed.py"):
    module = load_seed(name, overrides, file)
    real = module._conv1d_kernel

    class Recorder:
        def __getitem__(self, grid):
            def launch(*args, **kw):
                launches.append({k: kw[k] for k in ("X_TMA", "X_SHIFT", "STORE_TMA", "RESIDENT", "UNROLL", "CO_TILES",
                                                    "HAS_LO", "CO_HI", "K")} | {"grid": grid[0], "job": job_id})
                return real[grid](*args, **kw)
            return launch

    module._conv1d_kernel = Recorder()
    return module


_seed_check._load_seed = recording_load
results = []
for job in json.loads(sys.argv[2]):
    job_id = job["id"]  # the job's index in the module's JOBS (the jobs are shared among two processes)
    results.append(_seed_check.run_job(job))
print(json.dumps({"results": results, "launches": launches}))
'''

SHAPES = {  # TMA-legal: fp16 L % 8 == 0, fp32 L % 4 == 0; the rest take the pointer fallback
    "c37_o41_l40_fp16": {"B": 3, "Cin": 37, "Cout": 41, "L": 40, "K": 3, "dtype": "float16"},
    "c37_o41_l29_fp16": {"B": 3, "Cin": 37, "Cout": 41, "L": 29, "K": 3, "dtype": "float16"},
    "c20_o100_l28_k5_fp32": {"B": 2, "Cin": 20, "Cout": 100, "L": 28, "K": 5, "dtype": "float32"},
}
SMALL = ["tiny", "tail_fp16", "k1", "l1"]  # the task's own small shapes (L = 9, 37, 11 with K = 1, 1)
TILES = {"BLOCK_L": 16, "BLOCK_CI": 16}  # several L tiles and channel chunks per sample
JOBS = {
    "defaults": {"shapes": [*SMALL, *SHAPES], "overrides": {}},
    # x's centre tiles and y by TMA descriptors where the tensors allow it (off by default: slower on the H100)
    "tma": {"shapes": ["tiny", *SHAPES], "overrides": {"X_TMA": 1, "STORE_TMA": 1}},
    # padded channel tile (41 -> 64 rows), weights reloaded per tile, one program per tile, masked stores;
    # Cout 100 > MAX_CO 64 -> two channel tiles, the last one padded
    "padded_reloaded": {"shapes": ["c37_o41_l40_fp16", "c20_o100_l28_k5_fp32"],
                        "overrides": TILES | {"CO_SPLIT": 0, "W_RESIDENT": 0, "STORE_TMA": 0, "PROGS_PER_SM": 0,
                                              "MAX_CO": 64}},
    # split tiles (41 = 32 + 16), resident weights (3 chunks x 3 taps), persistent programs walking 9 tiles each
    "split_resident_persistent": {"shapes": ["c37_o41_l40_fp16", "c37_o41_l29_fp16", "c20_o100_l28_k5_fp32"],
                                  "overrides": TILES | {"CO_SPLIT": 1, "W_RESIDENT": 1, "PROGS_PER_SM": 1}},
    # the chunk loop (wide Cin's path): not unrolled, so the split tiles' weights are reloaded; every tap by masked
    # loads; TMA store
    "chunk_loop_pointer_taps": {"shapes": ["c37_o41_l40_fp16", "c20_o100_l28_k5_fp32"],
                                "overrides": TILES | {"MAX_UNROLL": 1, "X_TMA": 0, "X_SHIFT": 0, "CO_SPLIT": 1}},
    # the shifted taps moved in registers from a centre tile loaded by pointer (K 5: two moves each way), and
    # loaded by TMA with every tap a masked load
    "shift_pointer_centre": {"shapes": ["c37_o41_l40_fp16", "c37_o41_l29_fp16", "c20_o100_l28_k5_fp32"],
                             "overrides": TILES | {"X_TMA": 0, "X_SHIFT": 1}},
    "tma_centre_loaded_taps": {"shapes": ["c37_o41_l40_fp16", "c20_o100_l28_k5_fp32"],
                               "overrides": {"X_TMA": 1, "X_SHIFT": 0}},
    # 16-row channel tiles over Cout 41 (the last clipped at Cout by the y descriptor) and IEEE fp32
    "channel_tiles_ieee": {"shapes": ["c37_o41_l40_fp16", "c20_o100_l28_k5_fp32", "tiny"],
                           "overrides": {"MAX_CO": 16, "FP32_TF32": 0, "PROGS_PER_SM": 1}},
}


@pytest.fixture(scope="module")
def interpreter_run(tmp_path_factory) -> dict:
    """Returns {"results": per job, "launches": every kernel launch's path}, from two interpreter subprocesses."""
    script = tmp_path_factory.mktemp("wstat") / "wstat_check.py"
    script.write_text(SCRIPT)
    jobs = [{"task": "conv1d", "file": SEED.name, "seeds": [i % 2], "guard": True, "extra_shapes": SHAPES,
             "shapes": spec["shapes"], "overrides": spec["overrides"], "id": i} for i, spec in enumerate(JOBS.values())]
    shares = run_jobs([sys.executable, str(script), str(HERE)], jobs)
    results = in_job_order(shares, lambda out: out["results"])
    launches = [launch for _, out in shares for launch in out["launches"]]
    return {"results": dict(zip(JOBS, results, strict=True)), "launches": launches}


@pytest.mark.parametrize("job", list(JOBS))
def test_seed_wstat_matches_the_reference_with_guarded_inputs(interpreter_run, job):
    results = interpreter_run["results"][job]
    assert {r["shape"] for r in results} == set(JOBS[job]["shapes"])
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]]


def _launches(run: dict, job: str) -> list[dict]:
    return [launch for launch in run["launches"] if launch["job"] == list(JOBS).index(job)]


def test_every_path_of_the_seed_was_taken(interpreter_run):
    launches = interpreter_run["launches"]
    for key in ("X_TMA", "X_SHIFT", "STORE_TMA", "RESIDENT", "UNROLL", "HAS_LO"):
        assert {launch[key] for launch in launches} == {True, False}, key
    assert {launch["K"] for launch in launches} == {1, 3, 5}
    assert max(launch["CO_TILES"] for launch in launches) >= 3
    both = (False, True)
    assert {(launch["HAS_LO"], launch["RESIDENT"]) for launch in launches} == {(a, b) for a in both for b in both}
    assert {(launch["X_TMA"], launch["X_SHIFT"]) for launch in launches} == {(a, b) for a in both for b in both}
    assert {launch["K"] for launch in launches if launch["X_SHIFT"]} == {1, 3, 5}
    resident = [launch for launch in _launches(interpreter_run, "split_resident_persistent") if launch["RESIDENT"]]
    assert resident and all(launch["HAS_LO"] and launch["grid"] == 3 for launch in resident)  # 3 stands in for SMs
    assert not any(launch["UNROLL"] for launch in _launches(interpreter_run, "chunk_loop_pointer_taps"))


def test_tma_is_used_only_where_a_descriptor_can_describe_the_tensors(interpreter_run):
    tma = _launches(interpreter_run, "tma")
    # launches in shape order: tiny (L 9) falls back; of the 3 extra ones L 40 fp16 and L 28 fp32 are TMA-legal,
    # L 29 fp16 is not
    assert [launch["X_TMA"] for launch in tma] == [False, True, False, True]
    assert all(launch["X_TMA"] == launch["STORE_TMA"] for launch in tma)


def test_seed_wstat_steps_down_stages_then_residency_then_chunk_width(tmp_path):
    out = step_down(SEED, ["num_stages", "RESIDENT", "BLOCK_CI"], "num_stages > 1 or RESIDENT or BLOCK_CI > 16",
                    {"NUM_STAGES": 2, "BLOCK_CI": 32, "W_RESIDENT": 1}, tmp_path)
    assert out["tried"] == [[2, True, 32], [1, True, 32], [1, False, 32], [1, False, 16]]
    assert out["again"] == [[1, False, 16]]  # the fitted config is remembered for the shape: no second descent
    assert out["err"] < 1e-4 and out["err2"] < 1e-4


def test_the_gpu_sweeps_configs_are_tunables_of_the_seed_with_values_from_its_space():
    """benchmarks/gpu_conv1d_wstat.sh's configs (one GPU call: a typo there costs the call's step, not a test)."""
    spec = importlib.util.spec_from_file_location("seed_wstat_tunables", SEED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defining @triton.jit kernels needs no device
    lists = dict(re.findall(r"^(B2048|B256|OOD)='(.*?)'$", SWEEP_SCRIPT.read_text(), re.MULTILINE | re.DOTALL))
    assert set(lists) == {"B2048", "B256", "OOD"}
    configs = [c for text in lists.values() for c in json.loads(text)]
    assert len(json.loads(lists["B2048"])) >= 12
    for config in configs:
        for key, value in config.items():
            assert value in module.TUNABLE_SPACE[key], (config, key)
