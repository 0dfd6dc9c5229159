"""Honest conv1d: one program per (batch, L-block) computing every output channel, masked tails.

Per tap t: acc[co, l] += sum_c W[co, c, t] * x[b, c, l + t - K//2] as a broadcast [CO, C, L] product,
so the interpreter runs few, wide operations. Channel and length tails and the zero-padding halo are
all masked.
"""

import torch
import triton
import triton.language as tl
from torch import nn

BLOCK_L = 32  # the 37-long test shape keeps a tail block


@triton.jit
def _conv1d_kernel(x_ptr, w_ptr, b_ptr, y_ptr, CIN, COUT, L, K: tl.constexpr, BLOCK_L: tl.constexpr,
                   BLOCK_C: tl.constexpr, BLOCK_CO: tl.constexpr):
    b = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK_L + tl.arange(0, BLOCK_L)
    mask = offs < L
    chans = tl.arange(0, BLOCK_C)
    outs = tl.arange(0, BLOCK_CO)
    chan_ok = chans < CIN
    out_ok = outs < COUT
    acc = tl.zeros((BLOCK_CO, BLOCK_L), dtype=tl.float32)
    for t in tl.static_range(K):
        pos = offs + t - K // 2
        ok = mask & (pos >= 0) & (pos < L)
        # x tile [C, L] = x[b, c, pos]; w tile [CO, C] = W[co, c, t]
        xv = tl.load(x_ptr + (b * CIN + chans[:, None]) * L + pos[None, :],
                     mask=chan_ok[:, None] & ok[None, :], other=0.0).to(tl.float32)
        wv = tl.load(w_ptr + (outs[:, None] * CIN + chans[None, :]) * K + t,
                     mask=out_ok[:, None] & chan_ok[None, :], other=0.0).to(tl.float32)
        acc += tl.sum(wv[:, :, None] * xv[None, :, :], axis=1)
    acc += tl.load(b_ptr + outs, mask=out_ok, other=0.0).to(tl.float32)[:, None]
    y_ptrs = y_ptr + (b * COUT + outs[:, None]) * L + offs[None, :]
    tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=out_ok[:, None] & mask[None, :])


def conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Returns conv1d(x, weight, bias, padding=K//2) for small channel counts."""
    B, CIN, L = x.shape
    COUT, _, K = weight.shape
    x, weight, bias = x.contiguous(), weight.contiguous(), bias.contiguous()
    y = torch.empty((B, COUT, L), device=x.device, dtype=x.dtype)
    grid = (B, triton.cdiv(L, BLOCK_L))
    _conv1d_kernel[grid](x, weight, bias, y, CIN, COUT, L, K=K, BLOCK_L=BLOCK_L,
                         BLOCK_C=triton.next_power_of_2(CIN), BLOCK_CO=triton.next_power_of_2(COUT))
    return y


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return conv1d(x, weight, bias)
