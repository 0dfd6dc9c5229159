"""wukong_fm: WuKong "Optimized FM" interaction out[b] = X[b] · (X[b]ᵀ · Y[b]) (KernelEvolve §5, Eq. 1).

X: [B, N, D] (N feature embeddings of dim D per sample), Y: [B, N, K] -> out: [B, N, K].
The reference is the paper's two bmm calls; the B×D×K intermediate round-trips HBM (for the first
production shape ~1.0 GB in fp16), which is where a fused kernel wins. Re-association ((X Xᵀ) Y) is
allowed and stays inside the tolerance. K=2198 is not a multiple of 8: tails matter.
"""

import torch
from torch import nn

DESCRIPTION = "WuKong optimized FM out = X·(XᵀY), batched (paper: B=1024, N=24..48, D=224, K=448/2198 fp16)"

# docs/TASKS.md §2 (chosen): X, Y = 0.1·randn gives outputs O(0.1); fp32 reference on the same fp16 inputs.
ATOL = 1e-3
RTOL = 1e-2
UPCAST_REFERENCE = True


def _shape(B, N, D, K, dtype="float16"):
    return {"B": B, "N": N, "D": D, "K": K, "dtype": dtype}


# Production: the deployed WuKong variant (paper).
SHAPES = {
    "b1024_n24_k2198": _shape(1024, 24, 224, 2198),
    "b1024_n40_k448": _shape(1024, 40, 224, 448),
    "b1024_n48_k448": _shape(1024, 48, 224, 448),
}
# Near-distribution points of the paper's B and K sweeps (Fig. 14), a bf16 variant, and the chosen OOD
# shapes (N >= 96 is where the paper's speedup goes to ~1x; D=1024, K=4096 breaks "X[b] fits in SRAM").
HELDOUT_SHAPES = {
    "b128_n24_k2198": _shape(128, 24, 224, 2198),
    "b2048_n48_k448": _shape(2048, 48, 224, 448),
    "b1024_n32_k1536": _shape(1024, 32, 224, 1536),
    "b1024_n64_k256": _shape(1024, 64, 224, 256),
    "b1024_n24_k2198_bf16": _shape(1024, 24, 224, 2198, dtype="bfloat16"),
    "ood_b256_n256_k448": _shape(256, 256, 224, 448),
    "ood_b64_n64_d1024_k4096": _shape(64, 64, 1024, 4096),
}
# Interpreter-sized, odd everywhere so every tile has a tail.
SMALL_SHAPES = {
    "tiny": _shape(2, 5, 16, 7, dtype="float32"),
    "tiny_fp16": _shape(2, 5, 16, 7),
    "tail_fp16": _shape(3, 11, 23, 37),
}
SMALL_HELDOUT_SHAPES = {
    "n1_bf16": _shape(2, 1, 9, 5, dtype="bfloat16"),
    "n70_fp32": _shape(1, 70, 12, 19, dtype="float32"),  # N larger than one row tile
}


class Model(nn.Module):
    """The paper's reference: T = Xᵀ·Y (B×D×K), out = X·T."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # x: [B, N, D], y: [B, N, K] -> [B, N, K]
        t = torch.bmm(x.transpose(1, 2), y)  # [B, D, K]
        return torch.bmm(x, t)


def make_inputs(shape, seed, device="cpu"):
    """X, Y = 0.1·randn (docs/TASKS.md §2), contiguous, in the shape's dtype, drawn on `device`."""
    gen = torch.Generator(device=device).manual_seed(seed)
    dtype = getattr(torch, shape["dtype"])
    B, N, D, K = (shape[k] for k in ("B", "N", "D", "K"))
    x = torch.randn(B, N, D, generator=gen, device=device) * 0.1
    y = torch.randn(B, N, K, generator=gen, device=device) * 0.1
    return [x.to(dtype), y.to(dtype)]


def get_inputs():
    return make_inputs(SHAPES["b1024_n24_k2198"], 42)


def get_init_inputs():
    return []


def flops(shape):
    """The paper's order X·(XᵀY): two B×(N·D·K) matmuls, 2 FLOPs per multiply-add, so 4*N*D*K per sample.

    A re-associated kernel ((X Xᵀ) Y) does 2*N*N*(D+K) per sample, fewer when N is small; the roofline
    still divides by this stated count, so such a kernel can show more than 100% of the FLOP/s peak.
    """
    return 4 * shape["B"] * shape["N"] * shape["D"] * shape["K"]
