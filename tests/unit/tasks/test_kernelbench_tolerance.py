"""The tolerance policy: a plain KernelBench file is judged with KernelBench's atol=rtol=1e-2, a file that states
anything of its own (tolerance, inputs, shapes) keeps the project's per-dtype defaults; the judge decides by it."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from kernelevolve.eval import commands
from kernelevolve.eval.cases import build_shape_cases
from kernelevolve.eval.correctness import compare
from kernelevolve.tasks import Tolerance, load_task
from kernelevolve.tasks.loader import tolerance_policy

PLAIN = """import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x):
        return x * 0.5 - 1.0


def get_inputs():
    return [torch.randn(37, 53) * 4]


def get_init_inputs():
    return []
"""
# The same problem with one attribute of the task format: it no longer is a plain KernelBench file.
OWN = PLAIN + "\nEXACT = False\n"

# A candidate off the reference by +-OFFSET, alternating per element (both signs, a tail block of 37*53 % 128).
CANDIDATE = """import torch
import triton
import triton.language as tl
from torch import nn

OFFSET = {offset}


@triton.jit
def _kernel(x_ptr, y_ptr, N, off, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    x = tl.load(x_ptr + offs, mask=mask)
    sign = 1.0 - 2.0 * (offs % 2).to(tl.float32)
    tl.store(y_ptr + offs, x * 0.5 - 1.0 + off * sign, mask=mask)


class ModelNew(nn.Module):
    def forward(self, x):
        y = torch.empty_like(x)
        n = x.numel()
        _kernel[(triton.cdiv(n, 128),)](x, y, n, OFFSET, BLOCK=128)
        return y
"""


def _task(tmp_path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return load_task(str(path))


def test_a_plain_kernelbench_file_gets_kernelbench_tolerance_on_every_float_dtype(tmp_path):
    task = _task(tmp_path, "plain", PLAIN)
    assert task.kernelbench_tolerance and tolerance_policy(task).startswith("KernelBench's atol=0.01 rtol=0.01")
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        assert task.tolerance(torch.zeros(1, dtype=dtype)) == Tolerance(atol=1e-2, rtol=1e-2), dtype
    assert task.tolerance(torch.zeros(1, dtype=torch.int64)).exact, "integer outputs stay exact"


@pytest.mark.parametrize("extra", ["EXACT = False", "ATOL = 1e-3", "UPCAST_REFERENCE = False",
                                   "SMALL_SHAPES = {'s': {}}",
                                   "def make_inputs(shape, seed):\n    return get_inputs()"])
def test_a_file_stating_anything_of_its_own_keeps_the_project_defaults(tmp_path, extra):
    task = _task(tmp_path, "own", PLAIN + "\n" + extra + "\n")
    assert not task.kernelbench_tolerance and tolerance_policy(task).startswith("the task's own")
    expected = Tolerance(atol=1e-3 if extra.startswith("ATOL") else 1e-5, rtol=1.3e-6)
    assert task.tolerance(torch.zeros(1)) == expected


def test_builtin_tasks_keep_their_tolerances():
    assert load_task("conv1d").tolerance(torch.zeros(1, dtype=torch.float16)) == Tolerance(atol=1e-4, rtol=5e-4)
    assert not any(load_task(n).kernelbench_tolerance for n in ("conv1d", "map_id", "rmsnorm_bwd"))


def _outputs(tmp_path, source: str, offset: float):
    """Returns the referee's reference, the task's resolved tolerance, and a candidate output off by +-offset."""
    task = _task(tmp_path, f"t{abs(hash((source, offset)))}", source)
    shape = build_shape_cases(task, "default", timed=False, seeds=[3], extra_seed=None, device=torch.device("cpu"))
    ref, tol = shape.cases[0].reference[0], shape.tolerances[0]
    sign = 1.0 - 2.0 * (torch.arange(ref.numel()) % 2).to(torch.float32).reshape(ref.shape)
    assert (ref < 0).any() and (ref > 0).any()
    return ref + offset * sign, ref, tol, shape.cases[0].id


@pytest.mark.parametrize(("offset", "plain_ok", "own_ok"), [(2e-3, True, False), (5e-2, False, False), (0.0, True, True)])
def test_the_referee_decides_by_the_policy(tmp_path, offset, plain_ok, own_ok):
    for source, ok in ((PLAIN, plain_ok), (OWN, own_ok)):
        out, ref, tol, case = _outputs(tmp_path, source, offset)
        mismatch = compare(out, ref, tol, case, 0)
        assert (mismatch is None) == ok, (source == PLAIN, offset, tol, mismatch)


def _eval(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.slow
def test_the_judge_passes_a_2e_3_near_miss_on_a_plain_file_and_rejects_it_on_a_strict_one(tmp_path, capsys):
    """End to end through `kernelevolve eval` (worker, referee, sandbox) on the Triton interpreter."""
    (tmp_path / "plain.py").write_text(PLAIN)
    (tmp_path / "own.py").write_text(OWN)
    near = tmp_path / "near.py"
    near.write_text(CANDIDATE.format(offset=2e-3))
    verdicts = {}
    for name in ("plain", "own"):
        code = _eval(["eval", str(tmp_path / f"{name}.py"), str(near), "--platform", "cpu", "--json", "--seeds", "1",
                      "--workdir", str(tmp_path / f"work_{name}")])
        verdicts[name] = (code, json.loads(capsys.readouterr().out))
    assert verdicts["plain"][0] == 0 and verdicts["plain"][1]["status"] == "ok", verdicts["plain"]
    code, strict = verdicts["own"]
    assert code == 1 and strict["status"] == "incorrect", strict
    assert "atol 1e-05" in strict["reason"] and strict["mismatch"]["max_abs_err"] == pytest.approx(2e-3, rel=1e-3)
