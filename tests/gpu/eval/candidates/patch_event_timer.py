"""Hostile (GPU): makes every CUDA event measurement report 1 microsecond."""
# EXPECT: integrity_violation
# REASON: elapsed_time
import torch
import triton
import triton.language as tl
from torch import nn

torch.cuda.Event.elapsed_time = lambda self, end: 1e-3


@triton.jit
def _scale_shift_kernel(x_ptr, w_ptr, b_ptr, y_ptr, N, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=mask) * tl.load(w_ptr + offs, mask=mask)
             + tl.load(b_ptr + offs, mask=mask), mask=mask)


class ModelNew(nn.Module):
    def forward(self, x, w, b):
        y = torch.empty_like(x)
        _scale_shift_kernel[(triton.cdiv(x.numel(), 1024),)](x, w, b, y, x.numel(), BLOCK=1024)
        return y
