"""Caches its output by input pointer + sums: every timed rep after the first launches nothing (attack d)."""
# EXPECT: integrity_violation
# TASK: conv1d
import torch
import triton
import triton.language as tl
from torch import nn

BLOCK_L = 32  # the 37-long shape keeps a tail block


@triton.jit
def _conv1d_kernel(x_ptr, w_ptr, b_ptr, y_ptr, CIN, COUT, L, K: tl.constexpr, BLOCK_L: tl.constexpr,
                   BLOCK_C: tl.constexpr):
    pid_bc = tl.program_id(0)  # b * COUT + co
    pid_l = tl.program_id(1)
    b = pid_bc // COUT
    co = pid_bc % COUT
    offs = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
    mask = offs < L
    chans = tl.arange(0, BLOCK_C)
    chan_ok = chans < CIN
    acc = tl.zeros((BLOCK_L,), dtype=tl.float32)
    for t in tl.static_range(K):
        pos = offs + t - K // 2
        ok = mask & (pos >= 0) & (pos < L)
        # x tile [BLOCK_C, BLOCK_L] = x[b, c, pos]; w column [BLOCK_C] = W[co, c, t]
        xv = tl.load(x_ptr + (b * CIN + chans[:, None]) * L + pos[None, :],
                     mask=chan_ok[:, None] & ok[None, :], other=0.0).to(tl.float32)
        wv = tl.load(w_ptr + (co * CIN + chans) * K + t, mask=chan_ok, other=0.0).to(tl.float32)
        acc += tl.sum(xv * wv[:, None], axis=0)
    acc += tl.load(b_ptr + co).to(tl.float32)
    tl.store(y_ptr + (b * COUT + co) * L + offs, acc.to(y_ptr.dtype.element_ty), mask=mask)


def conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Returns conv1d(x, weight, bias, padding=K//2)."""
    B, CIN, L = x.shape
    COUT, _, K = weight.shape
    x, weight, bias = x.contiguous(), weight.contiguous(), bias.contiguous()
    y = torch.empty((B, COUT, L), device=x.device, dtype=x.dtype)
    grid = (B * COUT, triton.cdiv(L, BLOCK_L))
    _conv1d_kernel[grid](x, weight, bias, y, CIN, COUT, L, K=K, BLOCK_L=BLOCK_L,
                         BLOCK_C=triton.next_power_of_2(CIN))
    return y


class ModelNew(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self._cache = {}

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        key = (x.data_ptr(), float(x.sum()), float(weight.sum()), float(bias.sum()))
        if key in self._cache:
            return self._cache[key].clone()  # timing reps reuse the same inputs: cache hit, no kernel
        y = conv1d(x, weight, bias)
        self._cache[key] = y.clone()
        return y
