"""Uses |x|: right on the task's non-negative inputs, wrong on the sign-flipped set."""
# EXPECT: incorrect
# TASK: scale_shift
import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def _scale_shift_kernel(x_ptr, w_ptr, b_ptr, y_ptr, N, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    x = tl.abs(tl.load(x_ptr + offs, mask=mask))
    w = tl.load(w_ptr + offs, mask=mask)
    b = tl.load(b_ptr + offs, mask=mask)
    tl.store(y_ptr + offs, x * w + b, mask=mask)


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        y = torch.empty_like(x)
        n = x.numel()
        _scale_shift_kernel[(triton.cdiv(n, 128),)](x, w, b, y, n, BLOCK=128)
        return y
