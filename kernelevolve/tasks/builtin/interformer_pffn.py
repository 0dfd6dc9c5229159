"""interformer_pffn: InterFormer personalized FFN, stage 1 — RMSNorm_K(GELU(X·W1 + b1); γ1) (KernelEvolve §5.3.2).

X: [B, N, D] sequence tokens, W1: [B, D, K] per-sample weights (generated upstream, hence batched),
b1: [K] and γ1: [K] shared across the batch -> H: [B, N, K].
RMSNorm_K(z; γ) = z / sqrt(mean_k z_k² + ε) ⊙ γ with ε = 1e-6, statistic in fp32; GELU is the exact erf
form. This is the "pffn_stage1" unit: exactly what the paper's torch.compile baseline measures (one bmm +
a two-pass fused bias/GELU/RMSNorm kernel, three memory passes).
"""

import torch
import torch.nn.functional as F
from torch import nn

DESCRIPTION = "InterFormer PFFN stage 1: batched BMM + bias + GELU + RMSNorm (paper: B=1024, N 150-400 fp16)"

EPS = 1e-6
# docs/TASKS.md §3 (chosen): outputs are normalized (O(1)); fp32 reference on the same low-precision inputs.
# fp16 1e-2 as specified. bf16 (8-bit mantissa, the chosen variant): cuBLAS's bf16 baseline misses 1e-2 on
# ~1 element in 1e6 at B=1024 (it rounds the bmm output and the GELU input to bf16), so 3e-2. fp32: 1e-4.
TOLERANCES = [{
    "float16": {"atol": 1e-2, "rtol": 1e-2},
    "bfloat16": {"atol": 3e-2, "rtol": 3e-2},
    "float32": {"atol": 1e-4, "rtol": 1e-4},
}]
UPCAST_REFERENCE = True


def _shape(B, N, D, K, dtype="float16"):
    return {"B": B, "N": N, "D": D, "K": K, "dtype": dtype}


# Production (paper): B=1024, N in [150, 400], D and K in [96, 256].
SHAPES = {
    "b1024_n200_d256_k160": _shape(1024, 200, 256, 160),
    "b1024_n200_d192_k96": _shape(1024, 200, 192, 96),
    "b1024_n400_d256_k160": _shape(1024, 400, 256, 160),
    "b1024_n150_d96_k192": _shape(1024, 150, 96, 192),
}
# Points of the paper's batch sweep and D sweep (Fig. 15), a bf16 variant, and the chosen OOD shape, where
# a full RMSNorm row (K = 1024) no longer fits one register tile.
HELDOUT_SHAPES = {
    "b64_n200_d256_k160": _shape(64, 200, 256, 160),
    "b256_n200_d256_k160": _shape(256, 200, 256, 160),
    "b2048_n200_d192_k96": _shape(2048, 200, 192, 96),
    "b1024_n300_d64_k256": _shape(1024, 300, 64, 256),
    "b1024_n150_d384_k256": _shape(1024, 150, 384, 256),
    "b1024_n200_d256_k160_bf16": _shape(1024, 200, 256, 160, dtype="bfloat16"),
    "ood_b64_n256_d1024_k1024": _shape(64, 256, 1024, 1024),
}
SMALL_SHAPES = {
    "tiny": _shape(2, 8, 32, 16),
    "odd": _shape(3, 5, 24, 40),  # non-power-of-two K: the row tile has a masked tail
    "odd_fp32": _shape(2, 7, 19, 13, dtype="float32"),
}
SMALL_HELDOUT_SHAPES = {
    "n1_bf16": _shape(2, 1, 17, 24, dtype="bfloat16"),
    "k_wide": _shape(1, 9, 12, 100),
}


class Model(nn.Module):
    """bmm + bias -> GELU (erf) -> RMSNorm over K in fp32 -> cast back to the input dtype."""

    def forward(self, x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, gamma1: torch.Tensor) -> torch.Tensor:
        # x: [B, N, D], w1: [B, D, K], b1: [K], gamma1: [K] -> [B, N, K]
        z = F.gelu(torch.bmm(x, w1) + b1)
        zf = z.float()
        h = zf * torch.rsqrt(zf.pow(2).mean(dim=-1, keepdim=True) + EPS) * gamma1.float()
        return h.to(x.dtype)


def make_inputs(shape, seed, device="cpu"):
    """X = randn, W1 = randn/√D, b1 = 0.1·randn, γ1 = 1 + 0.1·randn (docs/TASKS.md §3), drawn on `device`."""
    gen = torch.Generator(device=device).manual_seed(seed)
    dtype = getattr(torch, shape["dtype"])
    B, N, D, K = (shape[k] for k in ("B", "N", "D", "K"))
    x = torch.randn(B, N, D, generator=gen, device=device)
    w1 = torch.randn(B, D, K, generator=gen, device=device) / D**0.5
    b1 = torch.randn(K, generator=gen, device=device) * 0.1
    gamma1 = 1.0 + 0.1 * torch.randn(K, generator=gen, device=device)
    return [t.to(dtype) for t in (x, w1, b1, gamma1)]


def get_inputs():
    return make_inputs(SHAPES["b1024_n200_d256_k160"], 42)


def get_init_inputs():
    return []


def flops(shape):
    """The batched matmul only: 2*B*N*D*K (bias, GELU and RMSNorm are O(B*N*K) elementwise, ignored)."""
    return 2 * shape["B"] * shape["N"] * shape["D"] * shape["K"]
