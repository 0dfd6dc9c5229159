"""Structural rewrites of the conv1d seed: each applies, changes the code, and keeps it valid Python.
Numerical equivalence is checked under the Triton interpreter (slow test, subprocess)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kernelevolve.operator.rewrites import REWRITES, swap_loop_order, toggle_swizzle
from kernelevolve.paths import seed_kernel_path

SEED = seed_kernel_path("conv1d").read_text()


@pytest.mark.parametrize("rewrite", REWRITES, ids=lambda r: r.__name__)
def test_each_rewrite_applies_to_the_seed(rewrite):
    new, note = rewrite(SEED, np.random.default_rng(0))
    assert new != SEED and note.startswith("rewrite:")
    ast.parse(new)
    assert "TUNABLE_SPACE" in new and "# Tunables:" in new  # comments outside the edit are kept


def test_loop_swap_twice_keeps_every_statement():
    once, _ = swap_loop_order(SEED, np.random.default_rng(0))
    twice, _ = swap_loop_order(once, np.random.default_rng(0))
    body = lambda s: sorted(ln.strip() for ln in s.splitlines() if ln.strip())  # noqa: E731
    assert body(once) == body(SEED) == body(twice)
    assert once.index("for c0 in range") < once.index("for t in tl.static_range")


def test_loop_with_a_dependent_inner_range_is_not_swapped():
    src = textwrap.dedent('''\
        import triton
        @triton.jit
        def k(n):
            for i in range(n):
                for j in range(i):
                    pass
        ''')
    assert swap_loop_order(src, np.random.default_rng(0)) is None


def test_loop_with_a_store_before_the_inner_loop_is_not_swapped():
    src = textwrap.dedent('''\
        import triton
        @triton.jit
        def k(p, n):
            for i in range(n):
                x = tl.store(p, i)
                for j in range(n):
                    pass
        ''')
    assert swap_loop_order(src, np.random.default_rng(0)) is None


def test_swizzle_is_added_then_regrouped_or_removed():
    added, _ = toggle_swizzle(SEED, np.random.default_rng(0))
    assert added.count("tl.swizzle2d(") == 1
    outcomes = {toggle_swizzle(added, np.random.default_rng(s))[0].count("tl.swizzle2d(") for s in range(8)}
    assert outcomes == {0, 1}


def test_kernel_without_patterns_gets_none():
    assert all(r("x = 1\n", np.random.default_rng(0)) is None for r in REWRITES)


_CHECK = '''
import importlib.util, sys, numpy as np, torch, torch.nn.functional as F
from kernelevolve.operator.rewrites import REWRITES
from kernelevolve.paths import seed_kernel_path
source, worst = seed_kernel_path("conv1d").read_text(), 0.0
rng = np.random.default_rng(1)
for step in range(6):
    source = REWRITES[step % len(REWRITES)](source, rng)[0]
    path = f"{sys.argv[1]}/k{step}.py"
    open(path, "w").write(source)
    spec = importlib.util.spec_from_file_location(f"k{step}", path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    g = torch.Generator().manual_seed(step)
    x, w, b = torch.randn(2, 5, 37, generator=g), torch.randn(7, 5, 3, generator=g), torch.randn(7, generator=g)
    worst = max(worst, (mod.ModelNew()(x, w, b) - F.conv1d(x, w, b, padding=1)).abs().max().item())
print(worst)
'''


@pytest.mark.slow
def test_rewritten_kernels_still_compute_conv1d_under_the_interpreter(tmp_path):
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    out = subprocess.run([sys.executable, "-c", _CHECK, str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) < 1e-4
