"""Seed kernel for interformer_pffn (stage 1): H = RMSNorm_K(GELU(X·W1 + b1); γ1), one pass, one launch.

One program per (b, N-row tile); the whole K row sits in one fp32 accumulator tile (BLOCK_N x next_pow2(K)),
so bias + GELU + sum of squares + normalize + γ run in registers after the GEMM (the compiled baseline
stores the GEMM result and reads it twice in a two-pass reduction).
Memory-traffic model (fp16, 1024x200x256x160): read X once (B·N·D·2 B = 105 MB), read W1[b] once per
N tile (B·D·K·2 = 84 MB from HBM, later N tiles hit L2), write H once (B·N·K·2 = 65.5 MB) -> ~254 MB,
0.085 ms at 3 TB/s. A wide K (1024) forces a small BLOCK_N so the accumulator still fits in registers.
"""

import torch
import triton
import triton.language as tl
from torch import nn

# Tunables: the offline operator rewrites these assignments, choosing values from TUNABLE_SPACE.
BLOCK_N = 64  # token rows per program (shrunk so BLOCK_N x K_pow2 <= MAX_ACC_ELEMS)
BLOCK_D = 32  # reduction step over D
MAX_ACC_ELEMS = 16384  # fp32 accumulator elements per program (64 KB of registers across the CTA)
NUM_WARPS = 4
NUM_STAGES = 2
TUNABLE_SPACE = {
    "BLOCK_N": (16, 32, 64, 128),
    "BLOCK_D": (16, 32, 64, 128),
    "MAX_ACC_ELEMS": (8192, 16384, 32768),
    "NUM_WARPS": (2, 4, 8),
    "NUM_STAGES": (1, 2, 3, 4),
}
EPS = 1e-6
MAX_K = 16384  # one row of H must fit a single register tile in this kernel


@triton.jit
def _interformer_pffn_kernel(
    x_ptr, w_ptr, b_ptr, g_ptr, h_ptr,
    N, D, K, eps,
    PRECISION: tl.constexpr, DOT_IN_FP32: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_b = tl.program_id(0).to(tl.int64)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    mask_n = offs_n < N
    mask_k = offs_k < K
    x_b = x_ptr + pid_b * N * D  # X[b]: [N, D]
    w_b = w_ptr + pid_b * D * K  # W1[b]: [D, K]
    acc = tl.zeros((BLOCK_N, BLOCK_K), dtype=tl.float32)
    for d0 in range(0, D, BLOCK_D):
        offs_d = d0 + tl.arange(0, BLOCK_D)
        mask_d = offs_d < D
        x = tl.load(x_b + offs_n[:, None] * D + offs_d[None, :], mask=mask_n[:, None] & mask_d[None, :], other=0.0)
        w = tl.load(w_b + offs_d[:, None] * K + offs_k[None, :], mask=mask_d[:, None] & mask_k[None, :], other=0.0)
        if DOT_IN_FP32:
            x, w = x.to(tl.float32), w.to(tl.float32)
        acc += tl.dot(x, w, input_precision=PRECISION)
    bias = tl.load(b_ptr + offs_k, mask=mask_k, other=0.0).to(tl.float32)
    z = acc + bias[None, :]
    z = 0.5 * z * (1.0 + tl.math.erf(z * 0.7071067811865476))  # exact (erf) GELU
    z = tl.where(mask_k[None, :], z, 0.0)  # padded columns must not enter the mean
    rstd = tl.math.rsqrt(tl.sum(z * z, axis=1) / K + eps)  # [BLOCK_N], fp32 statistic
    gamma = tl.load(g_ptr + offs_k, mask=mask_k, other=0.0).to(tl.float32)
    h = z * rstd[:, None] * gamma[None, :]
    h_ptrs = h_ptr + pid_b * N * K + offs_n[:, None] * K + offs_k[None, :]
    tl.store(h_ptrs, h.to(h_ptr.dtype.element_ty), mask=mask_n[:, None] & mask_k[None, :])


def interformer_pffn(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, gamma1: torch.Tensor) -> torch.Tensor:
    """Returns RMSNorm_K(GELU(x·w1 + b1); gamma1) for x [B, N, D], w1 [B, D, K], b1 and gamma1 [K]."""
    B, N, D = x.shape
    K = w1.shape[2]
    if K > MAX_K:
        raise ValueError(f"K = {K} exceeds MAX_K = {MAX_K}: a row of H must fit one register tile; "
                         "split the RMSNorm into a two-pass kernel for wider rows.")
    x, w1, b1, gamma1 = x.contiguous(), w1.contiguous(), b1.contiguous(), gamma1.contiguous()
    h = torch.empty((B, N, K), device=x.device, dtype=x.dtype)
    block_k = max(16, triton.next_power_of_2(K))
    block_n = max(16, min(BLOCK_N, MAX_ACC_ELEMS // block_k, triton.next_power_of_2(N)))
    grid = (B, triton.cdiv(N, block_n))
    precision = "ieee" if x.dtype == torch.float32 else "tf32"  # fp32 must not drop to tf32
    # Triton 3.7's CPU interpreter multiplies bf16 bit patterns as integers in tl.dot: upcast there only.
    dot_in_fp32 = x.dtype == torch.bfloat16 and x.device.type == "cpu"
    _interformer_pffn_kernel[grid](
        x, w1, b1, gamma1, h, N, D, K, EPS,
        PRECISION=precision, DOT_IN_FP32=dot_in_fp32, BLOCK_N=block_n, BLOCK_D=BLOCK_D, BLOCK_K=block_k,
        num_warps=NUM_WARPS, num_stages=NUM_STAGES,
    )
    return h


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, gamma1: torch.Tensor) -> torch.Tensor:
        return interformer_pffn(x, w1, b1, gamma1)
