"""conv1d: dense 1-D cross-correlation, NCL layout, K=3, stride 1, "same" padding, with bias (KernelEvolve §5, App. A).

y[b, co, l] = bias[co] + sum_{ci<Cin} sum_{t<K} W[co, ci, t] * x[b, ci, l + t - K//2], zero outside [0, L).
Inputs follow the paper's generator (small init scales, so the tolerance means something): outputs are
~N(0, 0.045) and atol=1e-4 / rtol=5e-4 is a few fp16 ulps.
"""

import torch
import torch.nn.functional as F
from torch import nn

DESCRIPTION = "conv1d K=3 stride 1 same-padding with bias, NCL (paper: 2048x96x96x200 fp16 on H100)"

ATOL = 1e-4
RTOL = 5e-4
UPCAST_REFERENCE = True  # compare against fp32 math on the same fp16 inputs (docs/TASKS.md §0)


def _shape(B, Cin, Cout, L, K=3, dtype="float16"):
    return {"B": B, "Cin": Cin, "Cout": Cout, "L": L, "K": K, "dtype": dtype}


SHAPES = {
    "b2048_fp16": _shape(2048, 96, 96, 200),
    "b256_fp16": _shape(256, 96, 96, 200),
    "b2048_fp32": _shape(2048, 96, 96, 200, dtype="float32"),
}
HELDOUT_SHAPES = {
    "rand_32x64x512": _shape(32, 64, 64, 512),
    "rand_32x256x1024": _shape(32, 256, 256, 1024),
    "ood_64x768x1024": _shape(64, 768, 768, 1024),
}
# Interpreter-sized: odd sizes so every tile has a tail; one fp16 case.
SMALL_SHAPES = {
    "tiny": _shape(2, 4, 6, 9, dtype="float32"),
    "tail_fp16": _shape(3, 5, 7, 37),
}
SMALL_HELDOUT_SHAPES = {
    "k1": _shape(2, 3, 5, 11, K=1, dtype="float32"),
    "l1": _shape(2, 4, 4, 1, dtype="float32"),
}


class Model(nn.Module):
    """F.conv1d with padding K//2 (K odd keeps the output length equal to L)."""

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        # x: [B, Cin, L], weight: [Cout, Cin, K], bias: [Cout] -> [B, Cout, L]
        return F.conv1d(x, weight, bias, stride=1, padding=weight.shape[-1] // 2)


def make_inputs(shape, seed, device="cpu"):
    """The paper's generator (Appendix A) with a caller-chosen seed, drawn on `device`."""
    gen = torch.Generator(device=device).manual_seed(seed)
    dtype = getattr(torch, shape["dtype"])
    B, Cin, Cout, L, K = (shape[k] for k in ("B", "Cin", "Cout", "L", "K"))
    x = torch.randn(B, Cin, L, generator=gen, device=device) * 0.041105 + 0.006413
    w = torch.randn(Cout, Cin, K, generator=gen, device=device) * 0.047870 - 0.000024
    b = torch.randn(Cout, generator=gen, device=device) * 0.033662 - 0.003198
    return [x.to(dtype), w.to(dtype), b.to(dtype)]


def get_inputs():
    return make_inputs(SHAPES["b2048_fp16"], 42)


def get_init_inputs():
    return []


def flops(shape):
    """2 FLOPs (multiply + add) per weight tap per output element: 2*B*Cout*L*Cin*K (bias ignored)."""
    return 2 * shape["B"] * shape["Cout"] * shape["L"] * shape["Cin"] * shape["K"]
