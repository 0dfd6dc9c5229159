"""Seed kernel for mbdt: per-feature branch-free border count, merged offsets — one launch for all features.

Grid (feature f, block of BLOCK_B values). Y[f, i] = offset_f + Σ_k [b_k < x]: the borders of f are
compared against a [BLOCK_B, BLOCK_K] tile and summed along k; the +inf sentinel after each feature's
borders never counts (inf < x is false for finite x), so the loop can run over the flat slice as is.
Ties go to the lower bin because the comparison is strict (torch.bucketize right=False).
Memory-traffic model (2048 x 64 x 10): read X (F·B·4 B = 524 KB), read borders (F·(K+1)·4 = 2.8 KB,
L1/L2-resident), write Y (F·B·8 = 1 MB) -> launch-bound on H100; OOD (65536 x 256, K up to 256):
~200 MB of X and Y, plus up to 256 compares per value (linear count; binary search would win there).

Task semantics: docs/TASKS.md §5; the task file: kernelevolve/tasks/builtin/mbdt.py; the search that starts from it: docs/ARCHITECTURE.md.
"""

import torch
import triton
import triton.language as tl
from torch import nn

# Tunables: the offline operator rewrites these assignments, choosing values from TUNABLE_SPACE.
BLOCK_B = 64  # values of one feature per program
BLOCK_K = 8  # borders compared per step
NUM_WARPS = 4
TUNABLE_SPACE = {
    "BLOCK_B": (64, 128, 256, 512, 1024),
    "BLOCK_K": (4, 8, 16, 32),
    "NUM_WARPS": (1, 2, 4, 8),
}


@triton.jit
def _mbdt_kernel(x_ptr, b_ptr, off_ptr, y_ptr, B, BLOCK_B: tl.constexpr, BLOCK_K: tl.constexpr):
    f = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
    mask = offs < B
    start = tl.load(off_ptr + f)  # offset_f: start of feature f's borders in the flat array
    end = tl.load(off_ptr + f + 1)
    x = tl.load(x_ptr + f * B + offs, mask=mask, other=0.0)
    count = tl.zeros((BLOCK_B,), dtype=tl.int64)
    for k0 in range(start, end, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        border = tl.load(b_ptr + ks, mask=ks < end, other=float("inf"))  # padding never counts
        count += tl.sum((border[None, :] < x[:, None]).to(tl.int64), axis=1)
    tl.store(y_ptr + f * B + offs, start + count, mask=mask)


def mbdt(x: torch.Tensor, borders: torch.Tensor, border_offsets: torch.Tensor) -> torch.Tensor:
    """Returns int64 [F, B]: offset_f + number of feature f's borders strictly below x[f, i]."""
    F, B = x.shape
    x, borders, border_offsets = x.contiguous(), borders.contiguous(), border_offsets.contiguous()
    y = torch.empty((F, B), device=x.device, dtype=torch.int64)
    if F * B > 0:
        grid = (F, triton.cdiv(B, BLOCK_B))
        _mbdt_kernel[grid](x, borders, border_offsets, y, B, BLOCK_B=BLOCK_B, BLOCK_K=BLOCK_K, num_warps=NUM_WARPS)
    return y


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, borders: torch.Tensor, border_offsets: torch.Tensor) -> torch.Tensor:
        return mbdt(x, borders, border_offsets)
