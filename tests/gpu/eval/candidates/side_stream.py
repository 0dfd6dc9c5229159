"""Hostile (GPU): does the real work on a side stream so default-stream events time almost nothing."""
# EXPECT: integrity_violation
# REASON: side stream
import torch
import triton
import triton.language as tl
from torch import nn

_SIDE = None


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
        global _SIDE
        if _SIDE is None:
            _SIDE = torch.cuda.Stream()
        y = torch.empty_like(x)
        n = x.numel()
        with torch.cuda.stream(_SIDE):
            _scale_shift_kernel[(triton.cdiv(n, 1024),)](x, w, b, y, n, BLOCK=1024)
        return y
