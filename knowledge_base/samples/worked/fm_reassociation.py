"""Worked example: WuKong FM out[b] = X[b] (X[b]^T Y[b]) -> (X[b] X[b]^T) Y[b], fused, no intermediate.

Shapes: X [B, N, D], Y [B, N, K], out [B, N, K]. Production (1024, 24, 224, 2198), fp16 (s = 2).
Before (two batched GEMMs, the reference's order, intermediate T = X^T Y of [B, D, K] in HBM):
  flops 4*N*D*K per sample = 47 MFLOP; bytes: X, Y read; T written + read (fp32 here: 2*B*D*K*4 B =
  4.0 GB at the production shape, 2.0 GB even in fp16); out written.
After (one kernel, G = X X^T of [N, N] never leaves registers):
  flops 2*N*N*(D + K) per sample = 2.8 MFLOP; bytes: X (11 MB) + Y (108 MB) + out (108 MB) ~ 227 MB
  -> 0.076 ms floor at the measured 3.0 TB/s (H100, measured here); the rest is compute it no
  longer does. Each (b, K-tile) program recomputes G: N*N*D flops, cheap next to its Y tile.
Reassociation changes rounding; stays well inside the task's rtol=1e-2 (fp32 accumulation).
tl.dot needs dims >= 16: N = 24 is padded to BLOCK_N = 32 and masked.
"""

import torch
import triton
import triton.language as tl

BLOCK_K = 64  # output columns per program
BLOCK_D = 32  # reduction chunk over D when building G
TUNABLE_SPACE = {"BLOCK_K": (16, 32, 64, 128, 256), "BLOCK_D": (16, 32, 64)}


@triton.jit
def _bmm_kernel(a_ptr, b_ptr, c_ptr, M, N, K, sab, sam, sak, sbb, sbk, sbn, scb, scm, scn,
                BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    pid_b, pid_m, pid_n = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, BK):
        rk = k0 + tl.arange(0, BK)
        a = tl.load(a_ptr + pid_b * sab + rm[:, None] * sam + rk[None, :] * sak,
                    mask=(rm[:, None] < M) & (rk[None, :] < K), other=0.0)
        b = tl.load(b_ptr + pid_b * sbb + rk[:, None] * sbk + rn[None, :] * sbn,
                    mask=(rk[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc = tl.dot(a.to(tl.float32), b.to(tl.float32), acc)
    tl.store(c_ptr + pid_b * scb + rm[:, None] * scm + rn[None, :] * scn, acc.to(c_ptr.dtype.element_ty),
             mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def _fm_kernel(x_ptr, y_ptr, out_ptr, N, D, K,
               BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_K: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    rn = tl.arange(0, BLOCK_N)
    rk = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    g = tl.zeros((BLOCK_N, BLOCK_N), dtype=tl.float32)  # G = X X^T, [N, N], lives in registers
    for d0 in range(0, D, BLOCK_D):
        rd = d0 + tl.arange(0, BLOCK_D)
        x = tl.load(x_ptr + b * N * D + rn[:, None] * D + rd[None, :],
                    mask=(rn[:, None] < N) & (rd[None, :] < D), other=0.0)  # padded rows load 0
        g = tl.dot(x, tl.trans(x), g)
    ymask = (rn[:, None] < N) & (rk[None, :] < K)
    y = tl.load(y_ptr + b * N * K + rn[:, None] * K + rk[None, :], mask=ymask, other=0.0)
    out = tl.dot(g.to(y.dtype), y)  # [N, BLOCK_K]; G cast to the input dtype for the tensor cores
    tl.store(out_ptr + b * N * K + rn[:, None] * K + rk[None, :], out.to(out_ptr.dtype.element_ty), mask=ymask)


def fm_two_gemms(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Returns X (X^T Y) per sample with two batched GEMMs and an fp32 HBM intermediate ('before')."""
    B, N, D = x.shape
    K = y.shape[2]
    t = torch.empty((B, D, K), device=x.device, dtype=torch.float32)  # the intermediate round trip
    out = torch.empty((B, N, K), device=x.device, dtype=x.dtype)
    blk = 16
    # t = x^T y: a[b, m=d, k=n] = x[b, n, d] -> strides (sxb, sxd, sxn)
    _bmm_kernel[(B, triton.cdiv(D, blk), triton.cdiv(K, blk))](
        x, y, t, D, K, N, x.stride(0), x.stride(2), x.stride(1), y.stride(0), y.stride(1), y.stride(2),
        t.stride(0), t.stride(1), t.stride(2), BM=blk, BN=blk, BK=blk)
    _bmm_kernel[(B, triton.cdiv(N, blk), triton.cdiv(K, blk))](
        x, t, out, N, K, D, x.stride(0), x.stride(1), x.stride(2), t.stride(0), t.stride(1), t.stride(2),
        out.stride(0), out.stride(1), out.stride(2), BM=blk, BN=blk, BK=blk)
    return out


def fm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Returns (X X^T) Y per sample in one fused kernel ('after'); valid for N <= 64."""
    B, N, D = x.shape
    K = y.shape[2]
    if N > 64:
        raise ValueError(f"N={N} exceeds 64: G = X X^T no longer fits registers; tile G or use the GEMM path")
    x, y = x.contiguous(), y.contiguous()
    out = torch.empty((B, N, K), device=x.device, dtype=x.dtype)
    block_n = max(16, triton.next_power_of_2(N))  # tl.dot minimum
    _fm_kernel[(B, triton.cdiv(K, BLOCK_K))](x, y, out, N, D, K,
                                             BLOCK_N=block_n, BLOCK_D=BLOCK_D, BLOCK_K=BLOCK_K)
    return out


def reference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Returns the fp32 reference X (X^T Y), cast to x's dtype."""
    xf, yf = x.float(), y.float()
    return torch.bmm(xf, torch.bmm(xf.transpose(1, 2), yf)).to(x.dtype)
