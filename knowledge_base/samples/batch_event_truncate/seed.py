"""Seed kernels for batch_event_truncate: per-user counts, exclusive scans, per-user slice copies.

Users are the F·U (feature, user) pairs in feature-major order; because inner lengths and values are
concatenated feature-major and users are user-major inside a feature, each user's events and values are one
contiguous slice of the packed inputs, and its kept part is a prefix of that slice.
  1. scan outer lengths          -> event_start[i] of every user           (1 program, running carry)
  2. _counts (1 program / user)  -> kept events e' = min(e, N), kept values v' = Σ_{j<e'} a_j, all values v
  3. scan e', v', v (3 programs) -> output event/value starts, input value starts; totals size the outputs
     (the one device->host sync), then
  4. _copy   (1 program / user)  -> inner'[oes : oes+e'] = inner[es : es+e'], values' likewise, and the
                                    feature offsets (the start of user 0 of each feature).
Memory-traffic model (F=32, U=512, e ~ U{0..200}, N=100): read outer (F·U·8 B = 131 KB) 2x, inner
(1.6M events, 13 MB) 2x (counts, then the kept prefix), values (~2M, 16 MB) 1x for the kept prefix,
write ~60% of inner and values -> ~60 MB, ~0.02 ms at 3 TB/s; the scans and launches dominate below that.
Not done here: the no-truncation fast path (max e <= N: outputs = inputs), fusing the scans.

Task semantics: docs/TASKS.md §6; the task file: kernelevolve/tasks/builtin/batch_event_truncate.py; the search that starts from it: docs/ARCHITECTURE.md.
"""

import torch
import triton
import triton.language as tl
from torch import nn

# Tunables: the offline operator rewrites these assignments, choosing values from TUNABLE_SPACE.
SCAN_BLOCK = 1024  # elements per step of the single-program scans
BLOCK_E = 256  # events per step inside one user
BLOCK_V = 128  # values per step of one user's copy
NUM_WARPS = 4
TUNABLE_SPACE = {
    "SCAN_BLOCK": (256, 512, 1024, 2048, 4096),
    "BLOCK_E": (32, 64, 128, 256),
    "BLOCK_V": (64, 128, 256, 512, 1024),
    "NUM_WARPS": (1, 2, 4, 8),
}


@triton.jit
def _exclusive_scan_kernel(src_ptr, dst_ptr, n, BLOCK: tl.constexpr):
    """Row r = program 0..R-1: dst[r, 0..n] = exclusive prefix sums of src[r, 0..n-1] (dst has n + 1 columns)."""
    row = tl.program_id(0).to(tl.int64)
    src = src_ptr + row * n
    dst = dst_ptr + row * (n + 1)
    carry = tl.zeros((), dtype=tl.int64)
    for start in range(0, n, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        x = tl.load(src + offs, mask=offs < n, other=0).to(tl.int64)
        incl = tl.cumsum(x, axis=0)
        tl.store(dst + offs, carry + incl - x, mask=offs < n)
        carry += tl.sum(x, axis=0)
    tl.store(dst + n, carry)


@triton.jit
def _batch_event_truncate_counts_kernel(
    outer_ptr, inner_ptr, estart_ptr, counts_ptr, outer_out_ptr, n_users, N, BLOCK_E: tl.constexpr,
):
    i = tl.program_id(0).to(tl.int64)  # user (f, u), feature-major
    e = tl.load(outer_ptr + i).to(tl.int64)
    es = tl.load(estart_ptr + i)
    kept = tl.minimum(e, N)
    v_kept = tl.zeros((), dtype=tl.int64)
    v_all = tl.zeros((), dtype=tl.int64)
    for j0 in range(0, e, BLOCK_E):
        j = j0 + tl.arange(0, BLOCK_E)
        a = tl.load(inner_ptr + es + j, mask=j < e, other=0).to(tl.int64)
        v_all += tl.sum(a, axis=0)
        v_kept += tl.sum(tl.where(j < kept, a, 0), axis=0)
    tl.store(counts_ptr + i, kept)  # row 0: kept events
    tl.store(counts_ptr + n_users + i, v_kept)  # row 1: kept values
    tl.store(counts_ptr + 2 * n_users + i, v_all)  # row 2: all values
    tl.store(outer_out_ptr + i, kept.to(outer_out_ptr.dtype.element_ty))


@triton.jit
def _batch_event_truncate_copy_kernel(
    inner_ptr, values_ptr, estart_ptr, scans_ptr, inner_out_ptr, values_out_ptr, io_out_ptr, vo_out_ptr,
    n_users, U, BLOCK_E: tl.constexpr, BLOCK_V: tl.constexpr,
):
    i = tl.program_id(0).to(tl.int64)
    stride = n_users + 1  # scans: [3, n_users + 1] = starts of kept events, kept values, all values
    es = tl.load(estart_ptr + i)
    oes = tl.load(scans_ptr + i)
    kept = tl.load(scans_ptr + i + 1) - oes
    ovs = tl.load(scans_ptr + stride + i)
    v_kept = tl.load(scans_ptr + stride + i + 1) - ovs
    vs = tl.load(scans_ptr + 2 * stride + i)
    for j0 in range(0, kept, BLOCK_E):
        j = j0 + tl.arange(0, BLOCK_E)
        tl.store(inner_out_ptr + oes + j, tl.load(inner_ptr + es + j, mask=j < kept), mask=j < kept)
    for k0 in range(0, v_kept, BLOCK_V):
        k = k0 + tl.arange(0, BLOCK_V)
        tl.store(values_out_ptr + ovs + k, tl.load(values_ptr + vs + k, mask=k < v_kept), mask=k < v_kept)
    f = i // U
    first = (i % U) == 0  # user 0 of feature f starts the feature's output slices
    tl.store(io_out_ptr + f, oes, mask=first)
    tl.store(vo_out_ptr + f, ovs, mask=first)
    last = i == n_users - 1
    tl.store(io_out_ptr + f + 1, oes + kept, mask=last)
    tl.store(vo_out_ptr + f + 1, ovs + v_kept, mask=last)


def batch_event_truncate(n, outer_lengths, inner_lengths, inner_offsets, values, value_offsets):
    """Returns (outer' [F, U], inner', inner_offsets' [F+1], values', value_offsets' [F+1]), keeping <= n events/user."""
    F, U = outer_lengths.shape
    dev = outer_lengths.device
    users = F * U
    outer, inner, values = outer_lengths.contiguous(), inner_lengths.contiguous(), values.contiguous()
    outer_out = torch.empty_like(outer)
    io_out = torch.zeros(F + 1, device=dev, dtype=torch.int64)
    vo_out = torch.zeros(F + 1, device=dev, dtype=torch.int64)
    if users == 0:
        return outer_out, inner[:0].clone(), io_out, values[:0].clone(), vo_out
    estart = torch.empty(users + 1, device=dev, dtype=torch.int64)
    _exclusive_scan_kernel[(1,)](outer, estart, users, BLOCK=SCAN_BLOCK, num_warps=NUM_WARPS)
    counts = torch.empty((3, users), device=dev, dtype=torch.int64)
    _batch_event_truncate_counts_kernel[(users,)](outer, inner, estart, counts, outer_out, users, n,
                                                  BLOCK_E=BLOCK_E, num_warps=NUM_WARPS)
    scans = torch.empty((3, users + 1), device=dev, dtype=torch.int64)
    _exclusive_scan_kernel[(3,)](counts, scans, users, BLOCK=SCAN_BLOCK, num_warps=NUM_WARPS)
    kept_events, kept_values = scans[:2, users].tolist()  # the one device->host sync: output sizes
    inner_out = torch.empty(kept_events, device=dev, dtype=inner.dtype)
    values_out = torch.empty(kept_values, device=dev, dtype=values.dtype)
    _batch_event_truncate_copy_kernel[(users,)](inner, values, estart, scans, inner_out, values_out, io_out, vo_out,
                                                users, U, BLOCK_E=BLOCK_E, BLOCK_V=BLOCK_V, num_warps=NUM_WARPS)
    return outer_out, inner_out, io_out, values_out, vo_out


class ModelNew(nn.Module):
    def forward(self, n, outer_lengths, inner_lengths, inner_offsets, values, value_offsets):
        return batch_event_truncate(n, outer_lengths, inner_lengths, inner_offsets, values, value_offsets)
