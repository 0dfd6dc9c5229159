"""Hostile (GPU): a tiny decoy Triton kernel, the real work in PyTorch."""
# EXPECT: integrity_violation
# REASON: a PyTorch fallback in disguise
import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def _noop_kernel(p_ptr):
    tl.store(p_ptr, 0.0)


class ModelNew(nn.Module):
    def forward(self, x, w, b):
        scratch = torch.empty(1, device=x.device)
        _noop_kernel[(1,)](scratch)
        return x * w + b
