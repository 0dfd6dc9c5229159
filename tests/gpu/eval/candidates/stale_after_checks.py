"""Hostile (GPU): correct while checked, then, once timing starts, computes only the first timed call and
hands back that result for every later call (with a launch each call, so the per-call launch check passes).
Caught only by the spot-check of timed outputs (fresh inputs every call, rebuilt by the referee)."""
# EXPECT: incorrect
# REASON: timed calls
import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def _scale_shift_kernel(x_ptr, w_ptr, b_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    w = tl.load(w_ptr + offs, mask=mask)
    b = tl.load(b_ptr + offs, mask=mask)
    tl.store(y_ptr + offs, x * w + b, mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0
        self.frozen = None

    def forward(self, x, w, b):
        self.calls += 1
        y = torch.empty_like(x)
        n = x.numel()
        if self.frozen is not None and self.frozen.shape == x.shape:
            _scale_shift_kernel[(1,)](x, w, b, y, 0, BLOCK=128)  # a launch that writes nothing
            return self.frozen
        _scale_shift_kernel[(triton.cdiv(n, 128),)](x, w, b, y, n, BLOCK=128)
        if self.calls > 3:  # past this shape's correctness cases (a new ModelNew per shape)
            self.frozen = y
        return y
