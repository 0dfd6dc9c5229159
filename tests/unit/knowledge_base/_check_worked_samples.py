"""Runs every worked sample (before and after) under the Triton interpreter against PyTorch; run as a script."""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported (the samples import it)

import torch  # noqa: E402


def _load(root: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, f"{root}/{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_rmsnorm(m: ModuleType, g: torch.Generator) -> None:
    for rows, cols in [(5, 17), (3, 32), (1, 1)]:  # odd tail, exact power of two, single element
        x = torch.randn(rows, cols, generator=g)
        w = torch.randn(cols, generator=g)
        ref = m.reference(x, w)
        assert torch.allclose(m.rmsnorm(x, w), ref, atol=1e-5, rtol=1e-5)
        assert torch.allclose(m.rmsnorm_two_pass(x, w), ref, atol=1e-5, rtol=1e-5)


def _check_fm(m: ModuleType, g: torch.Generator) -> None:
    for b, n, d, k in [(2, 5, 16, 7), (3, 17, 40, 70)]:  # docs/TASKS.md small shape, and N > 16 with tails
        x = torch.randn(b, n, d, generator=g) * 0.1
        y = torch.randn(b, n, k, generator=g) * 0.1
        ref = m.reference(x, y)
        for out in (m.fm(x, y), m.fm_two_gemms(x, y)):
            assert torch.allclose(out, ref, atol=1e-4, rtol=1e-3), (out - ref).abs().max()


def _check_bucketize(m: ModuleType) -> None:
    borders = torch.tensor([0.3, 0.6, 0.4, 0.7])  # the paper's Fig. 16 example
    bstart = torch.tensor([0, 2, 4])
    x = torch.tensor([[0.1, 0.4, 0.8], [0.2, 0.5, 0.9]])
    for fn in (m.bucketize, m.bucketize_search):
        assert fn(x, borders, bstart).tolist() == [[0, 1, 2], [3, 4, 5]]
    # ragged K_f = 1, 3, 5 with values exactly on borders and beyond both ends
    borders = torch.tensor([0.0, -1.0, 0.0, 1.0, -2.0, -1.0, 0.0, 1.0, 2.0])
    bstart = torch.tensor([0, 1, 4, 9])
    x = torch.tensor([[-5.0, 0.0, 0.5, 1.0, 2.0, 3.0, -1.0],
                      [-1.0, 0.0, 1.0, 1.5, -3.0, 0.2, 9.0],
                      [-2.0, 2.0, 0.0, -0.5, 1.0, 5.0, -9.0]])
    ref = m.reference(x, borders, bstart)
    for fn in (m.bucketize, m.bucketize_search):
        assert torch.equal(fn(x, borders, bstart), ref), (fn(x, borders, bstart), ref)


def main(root: str) -> None:
    g = torch.Generator().manual_seed(0)
    _check_rmsnorm(_load(root, "rmsnorm_single_pass"), g)
    _check_fm(_load(root, "fm_reassociation"), g)
    _check_bucketize(_load(root, "bucketize_count"))
    print("worked samples ok")


if __name__ == "__main__":
    main(sys.argv[1])
