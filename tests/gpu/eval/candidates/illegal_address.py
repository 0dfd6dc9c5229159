"""Faulty (GPU): a kernel that stores far outside its output. CUDA errors are sticky: every later call in the
worker raises, so the verdict must come from the fault, not a harness failure, and the judge's next candidate must
get a fresh worker (the candidates after this one in the suite check that)."""
# EXPECT: runtime_error
# REASON: illegal memory access
import triton
import triton.language as tl
import torch
from torch import nn


@triton.jit
def _scale_shift_kernel(x_ptr, w_ptr, b_ptr, y_ptr, N, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    y = tl.load(x_ptr + offs, mask=mask) * tl.load(w_ptr + offs, mask=mask) + tl.load(b_ptr + offs, mask=mask)
    tl.store(y_ptr + offs.to(tl.int64) + (1 << 40), y, mask=mask)  # 8 TB past the output: unmapped


class ModelNew(nn.Module):
    def forward(self, x, w, b):
        y = torch.empty_like(x)
        n = x.numel()
        _scale_shift_kernel[(triton.cdiv(n, 1024),)](x, w, b, y, n, BLOCK=1024)
        return y
