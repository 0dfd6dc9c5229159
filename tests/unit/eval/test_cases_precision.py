"""The reference is computed in true fp32: TF32 is off while it runs and restored afterwards."""

from __future__ import annotations

import torch

from kernelevolve.eval.cases import ieee_fp32, run_reference


def test_tf32_is_off_inside_and_restored_after():
    torch.backends.cudnn.allow_tf32 = True
    with ieee_fp32():
        assert not torch.backends.cudnn.allow_tf32
        assert not torch.backends.cuda.matmul.allow_tf32
    assert torch.backends.cudnn.allow_tf32


def test_reference_sees_tf32_disabled():
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(torch.backends.cudnn.allow_tf32)
            return x * 2

    torch.backends.cudnn.allow_tf32 = True
    out = run_reference(Probe(), [torch.ones(3, dtype=torch.float16)], upcast=True)
    assert seen == [False]
    assert out[0].dtype == torch.float32 and torch.equal(out[0], torch.full((3,), 2.0))
