"""seed_tma.py's TAP_TMA=1 path (every conv tap a TMA box at column l0 + t - PAD) under the CPU interpreter.

Triton's interpreter asserts that a descriptor's innermost start offset is 16-byte aligned; the shifted taps are
not (l0 - 1, l0 + 1), so the seed never issues them off the GPU unless INTERPRETER_UNALIGNED_OK is set. Here one
subprocess lifts exactly that assertion (the bounds masks and zero fill stay the interpreter's own) and checks
the path against the reference on NaN-guarded, TMA-legal odd shapes. What the hardware does with such an offset
is not tested here: only a GPU run can say (benchmarks/gpu_conv1d_tma.sh runs it in its own process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SCRIPT = r'''
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import _seed_check  # sets TRITON_INTERPRET before triton is imported
from triton.runtime import interpreter

unaligned = []


def materialize_pointers(self, offsets):
    """The interpreter's own TensorDescHandle.materialize_pointers less its innermost-offset alignment assert."""
    itemsize = self.base.dtype.element_ty.primitive_bitwidth // 8
    start = int(np.asarray(offsets[-1].data).reshape(-1)[0])
    if (start * itemsize) % 16:
        unaligned.append(start)
    ptrs = np.broadcast_to(self.base.data, self.block_shape)
    masks = np.ones(self.block_shape, dtype=bool)
    for dim in range(len(self.block_shape)):
        bcast = [1] * len(self.block_shape)
        bcast[dim] = self.block_shape[dim]
        off = (offsets[dim].data + np.arange(self.block_shape[dim])).reshape(bcast)
        ptrs = ptrs + (itemsize * off * self.strides[dim].data).astype(np.uint64)
        masks = masks & (0 <= off) & (off < self.shape[dim].data)
    return interpreter.TensorHandle(ptrs, self.base.dtype.scalar), masks


lifted = len(sys.argv) > 3
if lifted:
    interpreter.TensorDescHandle.materialize_pointers = materialize_pointers
results = [_seed_check.run_job(job) for job in json.loads(sys.argv[2])]
print(json.dumps({"results": results, "unaligned": len(unaligned), "negative": sum(o < 0 for o in unaligned)}))
'''

SHAPES = {"c37_o41_l40_fp16": {"B": 3, "Cin": 37, "Cout": 41, "L": 40, "K": 3, "dtype": "float16"},
          "c20_o100_l28_k5_fp32": {"B": 2, "Cin": 20, "Cout": 100, "L": 28, "K": 5, "dtype": "float32"}}


def _run(tmp_path: Path, overrides: dict, lift: bool) -> dict:
    script = tmp_path / "tap_tma.py"
    script.write_text(SCRIPT)
    jobs = [{"task": "conv1d", "file": "seed_tma.py", "seeds": [0], "guard": True, "extra_shapes": SHAPES,
             "shapes": list(SHAPES), "overrides": overrides},
            {"task": "conv1d", "file": "seed_tma.py", "seeds": [1], "guard": True, "extra_shapes": SHAPES,
             "shapes": list(SHAPES), "overrides": overrides | {"BLOCK_L": 16, "BLOCK_CI": 16, "PROGS_PER_SM": 2}}]
    proc = subprocess.run([sys.executable, str(script), str(HERE), json.dumps(jobs), *(["lift"] if lift else [])],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "TRITON_INTERPRET": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_every_tap_by_tma_matches_the_reference_with_the_alignment_assertion_lifted(tmp_path):
    out = _run(tmp_path, {"TAP_TMA": 1, "INTERPRETER_UNALIGNED_OK": True}, lift=True)
    results = [r for job in out["results"] for r in job]
    assert {r["shape"] for r in results} == set(SHAPES)
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]]
    assert out["unaligned"] > 0 and out["negative"] > 0  # the shifted taps did go through descriptors, halo included


def test_every_tap_by_tma_is_not_issued_under_the_stock_interpreter(tmp_path):
    out = _run(tmp_path, {"TAP_TMA": 1}, lift=False)  # the stock assertion would fail the run if it were
    results = [r for job in out["results"] for r in job]
    assert results and all(r["ok"] for r in results), [r for r in results if not r["ok"]]
    assert out["unaligned"] == 0
