"""Seed kernel for rmsnorm_bwd: persistent row-block kernel for dx + per-program dw partials, then a reduce.

Kernel 1: ~PROGRAMS_PER_SM x #SMs programs, each walks a strided set of [BLOCK_M, BLOCK_N] row blocks:
c = mean_k(dy·w·x) per row, dx = r·(dy·w − x·r²·c), and dw partial += Σ_rows dy·x·r in fp32 registers;
it writes one [N] partial row. Kernel 2 sums the partial rows into dw (fp32).
Rows wider than MAX_BLOCK_N take a chunked kernel (one row per step): two sweeps over the row (c, then dx)
with the dw partial accumulated in the program's own row of the partial buffer (no atomics, deterministic).
Memory-traffic model (bf16, 16384 x 256): read x and dy once (2·M·N·2 B = 16.8 MB), write dx once
(8.4 MB), partials (#programs·N·4 B ≈ 0.5 MB, twice) -> ~26 MB, ~0.009 ms at 3 TB/s. The chunked path
reads x and dy twice (the second sweep mostly from L2 for rows of <= a few MB).

Task semantics: docs/TASKS.md §7; the task file: kernelevolve/tasks/builtin/rmsnorm_bwd.py; the search that starts from it: docs/ARCHITECTURE.md.
"""

import torch
import triton
import triton.language as tl
from torch import nn

# Tunables: the offline operator rewrites these assignments, choosing values from TUNABLE_SPACE.
TILE_ELEMS = 8192  # elements of one [BLOCK_M, BLOCK_N] tile (BLOCK_M = TILE_ELEMS // BLOCK_N rows)
MAX_BLOCK_N = 8192  # widest row handled in one tile; wider rows use the chunked path
PROGRAMS_PER_SM = 2
NUM_WARPS = 4
REDUCE_BLOCK_N = 128  # dw columns per program of the reduce kernel
REDUCE_BLOCK_P = 32  # partial rows summed per step
TUNABLE_SPACE = {
    "TILE_ELEMS": (1024, 2048, 4096, 8192),
    "MAX_BLOCK_N": (2048, 4096, 8192),
    "PROGRAMS_PER_SM": (1, 2, 4, 8),
    "NUM_WARPS": (2, 4, 8, 16),
    "REDUCE_BLOCK_N": (64, 128, 256),
    "REDUCE_BLOCK_P": (16, 32, 64),
}
CPU_PROGRAMS = 3  # grid size under the interpreter (no SM count there); odd, so row blocks split unevenly


@triton.jit
def _rmsnorm_bwd_kernel(
    x_ptr, w_ptr, dy_ptr, r_ptr, dx_ptr, part_ptr, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """Whole rows in one tile: x and dy are read once, w once per program, dw accumulates in registers."""
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    mask_n = cols < N
    w = tl.load(w_ptr + cols, mask=mask_n, other=0.0).to(tl.float32)
    dw = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for m0 in range(pid * BLOCK_M, M, tl.num_programs(0) * BLOCK_M):
        rows = m0 + tl.arange(0, BLOCK_M)
        mask_m = rows < M
        mask = mask_m[:, None] & mask_n[None, :]
        offs = rows.to(tl.int64)[:, None] * N + cols[None, :]
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        r = tl.load(r_ptr + rows, mask=mask_m, other=0.0)  # [BLOCK_M] fp32 saved rstd
        c = tl.sum(dy * w[None, :] * x, axis=1) / N  # c_m = (1/N) Σ_k dy·w·x
        dx = r[:, None] * (dy * w[None, :] - x * (r * r * c)[:, None])
        tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        dw += tl.sum(dy * x * r[:, None], axis=0)
    tl.store(part_ptr + pid.to(tl.int64) * N + cols, dw, mask=mask_n)


@triton.jit
def _rmsnorm_bwd_chunked_kernel(
    x_ptr, w_ptr, dy_ptr, r_ptr, dx_ptr, part_ptr, M, N, BLOCK_N: tl.constexpr,
):
    """Rows wider than one tile: sweep 1 computes c, sweep 2 dx and this program's zeroed dw partial row."""
    pid = tl.program_id(0)
    cols0 = tl.arange(0, BLOCK_N)
    part_row = part_ptr + pid.to(tl.int64) * N
    row_off = pid.to(tl.int64) * N  # int64: M·N may exceed 2^31
    row_step = tl.num_programs(0).to(tl.int64) * N
    for m in range(pid, M, tl.num_programs(0)):
        row = x_ptr + row_off
        drow = dy_ptr + row_off
        r = tl.load(r_ptr + m)
        c_acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
        for n0 in range(0, N, BLOCK_N):
            cols = n0 + cols0
            x = tl.load(row + cols, mask=cols < N, other=0.0).to(tl.float32)
            dy = tl.load(drow + cols, mask=cols < N, other=0.0).to(tl.float32)
            w = tl.load(w_ptr + cols, mask=cols < N, other=0.0).to(tl.float32)
            c_acc += dy * w * x
        c = tl.sum(c_acc, axis=0) / N
        for n0 in range(0, N, BLOCK_N):  # second read of the row, mostly from L2
            cols = n0 + cols0
            x = tl.load(row + cols, mask=cols < N, other=0.0).to(tl.float32)
            dy = tl.load(drow + cols, mask=cols < N, other=0.0).to(tl.float32)
            w = tl.load(w_ptr + cols, mask=cols < N, other=0.0).to(tl.float32)
            dx = r * (dy * w - x * (r * r * c))
            tl.store(dx_ptr + row_off + cols, dx.to(dx_ptr.dtype.element_ty), mask=cols < N)
            acc = tl.load(part_row + cols, mask=cols < N, other=0.0)
            tl.store(part_row + cols, acc + dy * x * r, mask=cols < N)
        row_off += row_step


@triton.jit
def _rmsnorm_bwd_dw_kernel(part_ptr, dw_ptr, P, N, BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr):
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for p0 in range(0, P, BLOCK_P):
        ps = p0 + tl.arange(0, BLOCK_P)
        mask = (ps < P)[:, None] & (cols < N)[None, :]
        acc += tl.sum(tl.load(part_ptr + ps.to(tl.int64)[:, None] * N + cols[None, :], mask=mask, other=0.0), axis=0)
    tl.store(dw_ptr + cols, acc, mask=cols < N)


def _num_programs(device: torch.device, row_blocks: int) -> int:
    """Returns the persistent grid size: PROGRAMS_PER_SM per SM on a GPU, never more than the row blocks."""
    if device.type == "cuda":
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        return max(1, min(row_blocks, sms * PROGRAMS_PER_SM))
    return max(1, min(row_blocks, CPU_PROGRAMS))


def rmsnorm_bwd(x: torch.Tensor, w: torch.Tensor, dy: torch.Tensor, rstd: torch.Tensor):
    """Returns (dx [M, N] in x's dtype, dw [N] fp32) of y = x·rstd·w given the saved fp32 rstd [M]."""
    M, N = x.shape
    x, w, dy, rstd = x.contiguous(), w.contiguous(), dy.contiguous(), rstd.contiguous()
    single = N <= MAX_BLOCK_N
    block_n = triton.next_power_of_2(N) if single else MAX_BLOCK_N
    block_m = max(1, TILE_ELEMS // block_n)
    programs = _num_programs(x.device, triton.cdiv(M, block_m) if single else M)
    dx = torch.empty_like(x)
    # the chunked path accumulates into its partial row, so it must start at zero
    partial = (torch.empty if single and M > 0 else torch.zeros)((programs, N), device=x.device, dtype=torch.float32)
    dw = torch.empty(N, device=x.device, dtype=torch.float32)
    if M > 0 and single:
        _rmsnorm_bwd_kernel[(programs,)](x, w, dy, rstd, dx, partial, M, N, BLOCK_M=block_m, BLOCK_N=block_n,
                                         num_warps=NUM_WARPS)
    elif M > 0:
        _rmsnorm_bwd_chunked_kernel[(programs,)](x, w, dy, rstd, dx, partial, M, N, BLOCK_N=block_n,
                                                 num_warps=NUM_WARPS)
    _rmsnorm_bwd_dw_kernel[(triton.cdiv(N, REDUCE_BLOCK_N),)](partial, dw, programs, N, BLOCK_P=REDUCE_BLOCK_P,
                                                              BLOCK_N=REDUCE_BLOCK_N)
    return dx, dw


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, w: torch.Tensor, dy: torch.Tensor, rstd: torch.Tensor):
        return rmsnorm_bwd(x, w, dy, rstd)
