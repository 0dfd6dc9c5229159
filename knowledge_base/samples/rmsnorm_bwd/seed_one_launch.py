"""Structural seed for rmsnorm_bwd: one launch per call, dw finished by the last program to arrive.

seed.py makes three allocations (dx, dw, a [programs, N] partial buffer) and two launches per call, and its dw
reduce kernel has only cdiv(N, 128) programs (4 at N = 512), each summing ~264 partial rows one step after
another. On the H100 it lost to torch.compile at m8192_n512 (0.81x) and m2048_n4096 (0.38x by do_bench, where a
short call's host time shows), benchmarks/RESULTS.md issue 18. This variant:
- one persistent kernel (~PROGRAMS_PER_SM x #SMs programs) walks strided [BLOCK_M, BLOCK_N] row blocks as seed.py
  does: c = mean_k(dy·w·x) per row, dx = r·(dy·w − x·r²·c), dw partial += Σ_rows dy·x·r in fp32 registers;
- each program adds its dw partial into a per-(device, N) fp32 accumulator with atomics (PROGRAMS x N adds, in
  L2), then takes a ticket; the program holding the last ticket reads the sums (an atomic add of zero, so the
  read is served where the adds landed), writes dw, zeroes the accumulator and resets the ticket counter.
  The accumulator and counter are allocated once per (device, N) and left zeroed by every call, so a call
  allocates only its outputs dx and dw. The sum order of dw depends on arrival order (fp32; within the
  task's tolerance), unlike seed.py's fixed order.
- PREFETCH=1 loads the next row block's x and dy before computing the current one (registers double-buffered),
  so a program always has loads in flight.
Rows wider than MAX_BLOCK_N (the OOD shape N = 65536) keep seed.py's chunked kernel and reduce (two launches).
Memory traffic (bf16, 2048 x 4096): x and dy read once, dx written once: 50 MB, ~17 us at 3 TB/s.

Task semantics: docs/TASKS.md §7; the task file: kernelevolve/tasks/builtin/rmsnorm_bwd.py.
"""

import torch
import triton
import triton.language as tl
from torch import nn

# Tunables: the offline operator rewrites these assignments, choosing values from TUNABLE_SPACE.
TILE_ELEMS = 4096  # elements of one [BLOCK_M, BLOCK_N] tile (BLOCK_M = TILE_ELEMS // BLOCK_N rows)
PROGRAMS_PER_SM = 2
NUM_WARPS = 8
PREFETCH = 1  # 1: load the next row block while computing this one
TUNABLE_SPACE = {
    "NUM_WARPS": (2, 4, 8, 16),
    "TILE_ELEMS": (1024, 2048, 4096, 8192, 16384),
    "PROGRAMS_PER_SM": (1, 2, 4, 8),
    "PREFETCH": (0, 1),
}
# The chunked path's settings stay out of the space: no production shape (N <= 4096) takes that path, so a search
# ranking on them would judge identical kernels.
MAX_BLOCK_N = 8192  # widest row handled in one tile; wider rows use the chunked path
REDUCE_BLOCK_N = 128  # chunked path only: dw columns per program of its reduce kernel
REDUCE_BLOCK_P = 32  # chunked path only: partial rows summed per step
CPU_PROGRAMS = 3  # grid size under the interpreter (no SM count there); odd, so row blocks split unevenly
_SMS: dict[int, int] = {}  # device index -> SM count (a device query per call costs host time)
_SCRATCH: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}  # (device, N) -> (zeroed acc, counter)


@triton.jit
def _load_block(x_ptr, dy_ptr, r_ptr, m0, M, N, cols, mask_n, BLOCK_M: tl.constexpr):
    rows = m0 + tl.arange(0, BLOCK_M)
    mask_m = rows < M
    mask = mask_m[:, None] & mask_n[None, :]
    offs = rows.to(tl.int64)[:, None] * N + cols[None, :]  # int64: M·N may exceed 2^31
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    dy = tl.load(dy_ptr + offs, mask=mask, other=0.0)
    r = tl.load(r_ptr + rows, mask=mask_m, other=0.0)  # [BLOCK_M] fp32 saved rstd
    return x, dy, r, offs, mask


@triton.jit
def _rmsnorm_bwd_one_launch_kernel(
    x_ptr, w_ptr, dy_ptr, r_ptr, dx_ptr, acc_ptr, count_ptr, dw_ptr, M, N,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, PREFETCH: tl.constexpr,
):
    """Whole rows in one tile; dw through the zeroed accumulator, finished by the last program to arrive."""
    pid = tl.program_id(0)
    programs = tl.num_programs(0)
    cols = tl.arange(0, BLOCK_N)
    mask_n = cols < N
    w = tl.load(w_ptr + cols, mask=mask_n, other=0.0).to(tl.float32)
    dw = tl.zeros((BLOCK_N,), dtype=tl.float32)
    step = programs * BLOCK_M
    if PREFETCH:
        nx, ndy, nr, noffs, nmask = _load_block(x_ptr, dy_ptr, r_ptr, pid * BLOCK_M, M, N, cols, mask_n, BLOCK_M)
    for m0 in range(pid * BLOCK_M, M, step):
        if PREFETCH:
            x, dy, r, offs, mask = nx, ndy, nr, noffs, nmask
            # the next block of this program (all masked past M: no memory traffic)
            nx, ndy, nr, noffs, nmask = _load_block(x_ptr, dy_ptr, r_ptr, m0 + step, M, N, cols, mask_n, BLOCK_M)
        else:
            x, dy, r, offs, mask = _load_block(x_ptr, dy_ptr, r_ptr, m0, M, N, cols, mask_n, BLOCK_M)
        x = x.to(tl.float32)
        dy = dy.to(tl.float32)
        c = tl.sum(dy * w[None, :] * x, axis=1) / N  # c_m = (1/N) Σ_k dy·w·x
        dx = r[:, None] * (dy * w[None, :] - x * (r * r * c)[:, None])
        tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        dw += tl.sum(dy * x * r[:, None], axis=0)
    tl.atomic_add(acc_ptr + cols, dw, mask=mask_n, sem="relaxed")
    ticket = tl.atomic_add(count_ptr, 1, sem="acq_rel")  # releases this program's adds, acquires the others'
    if ticket == programs - 1:  # every other program has added its partial
        zero = tl.zeros((BLOCK_N,), dtype=tl.float32)
        total = tl.atomic_add(acc_ptr + cols, zero, mask=mask_n, sem="acq_rel")  # the sums, read where they are (L2)
        tl.store(dw_ptr + cols, total, mask=mask_n)
        tl.store(acc_ptr + cols, zero, mask=mask_n)  # nobody else touches acc any more in this call
        tl.atomic_xchg(count_ptr, 0, sem="relaxed")  # ready for the next call (launches on one stream are ordered)


@triton.jit
def _rmsnorm_bwd_chunked_kernel(
    x_ptr, w_ptr, dy_ptr, r_ptr, dx_ptr, part_ptr, M, N, BLOCK_N: tl.constexpr,
):
    """Rows wider than one tile: sweep 1 computes c, sweep 2 dx and this program's zeroed dw partial row."""
    pid = tl.program_id(0)
    cols0 = tl.arange(0, BLOCK_N)
    part_row = part_ptr + pid.to(tl.int64) * N
    row_off = pid.to(tl.int64) * N
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


def _num_programs(device: torch.device, work: int) -> int:
    """Returns the persistent grid size: PROGRAMS_PER_SM per SM on a GPU, never more than the work items."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index not in _SMS:
            _SMS[index] = torch.cuda.get_device_properties(index).multi_processor_count
        return max(1, min(work, _SMS[index] * PROGRAMS_PER_SM))
    return max(1, min(work, CPU_PROGRAMS))


def _scratch(device: torch.device, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns the zeroed fp32 dw accumulator [N] and ticket counter of this device and width (made once)."""
    key = (str(device), n)
    if key not in _SCRATCH:
        _SCRATCH[key] = (torch.zeros(n, device=device, dtype=torch.float32),
                         torch.zeros(1, device=device, dtype=torch.int32))
    return _SCRATCH[key]


def rmsnorm_bwd(x: torch.Tensor, w: torch.Tensor, dy: torch.Tensor, rstd: torch.Tensor):
    """Returns (dx [M, N] in x's dtype, dw [N] fp32) of y = x·rstd·w given the saved fp32 rstd [M]."""
    M, N = x.shape
    x, w, dy, rstd = x.contiguous(), w.contiguous(), dy.contiguous(), rstd.contiguous()
    dx = torch.empty_like(x)
    dw = torch.empty(N, device=x.device, dtype=torch.float32)
    if N <= MAX_BLOCK_N:
        block_n = triton.next_power_of_2(N)
        block_m = max(1, TILE_ELEMS // block_n)
        acc, count = _scratch(x.device, N)
        programs = _num_programs(x.device, triton.cdiv(M, block_m))
        _rmsnorm_bwd_one_launch_kernel[(programs,)](x, w, dy, rstd, dx, acc, count, dw, M, N, BLOCK_M=block_m,
                                                    BLOCK_N=block_n, PREFETCH=PREFETCH, num_warps=NUM_WARPS)
        return dx, dw
    programs = _num_programs(x.device, M)
    partial = torch.zeros((programs, N), device=x.device, dtype=torch.float32)  # accumulated into: starts at 0
    if M > 0:
        _rmsnorm_bwd_chunked_kernel[(programs,)](x, w, dy, rstd, dx, partial, M, N, BLOCK_N=MAX_BLOCK_N,
                                                 num_warps=NUM_WARPS)
    _rmsnorm_bwd_dw_kernel[(triton.cdiv(N, REDUCE_BLOCK_N),)](partial, dw, programs, N, BLOCK_P=REDUCE_BLOCK_P,
                                                              BLOCK_N=REDUCE_BLOCK_N)
    return dx, dw


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, w: torch.Tensor, dy: torch.Tensor, rstd: torch.Tensor):
        return rmsnorm_bwd(x, w, dy, rstd)
