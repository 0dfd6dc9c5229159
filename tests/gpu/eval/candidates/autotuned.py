"""Honest (GPU only: @triton.autotune needs a device): scale_shift with an autotuned block size."""
# EXPECT: ok
import torch
import triton
import triton.language as tl
from torch import nn


@triton.autotune(configs=[triton.Config({"BLOCK": b}, num_warps=w) for b, w in ((256, 2), (1024, 4), (4096, 8))],
                 key=["N"])
@triton.jit
def _scale_shift_kernel(x_ptr, w_ptr, b_ptr, y_ptr, N, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    x = tl.load(x_ptr + offs, mask=mask)
    w = tl.load(w_ptr + offs, mask=mask)
    b = tl.load(b_ptr + offs, mask=mask)
    tl.store(y_ptr + offs, x * w + b, mask=mask)


class ModelNew(nn.Module):
    def forward(self, x, w, b):
        y = torch.empty_like(x)
        n = x.numel()
        _scale_shift_kernel[lambda meta: (triton.cdiv(n, meta["BLOCK"]),)](x, w, b, y, n)
        return y
