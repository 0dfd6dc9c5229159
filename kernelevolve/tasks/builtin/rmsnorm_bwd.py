"""rmsnorm_bwd: RMSNorm 2-D backward — dx and dw from x, w, dy and the saved rstd (KernelEvolve Fig. 4, MTIA 17x).

Forward (not timed): r_m = 1/sqrt(mean_j x_mj² + ε), y_mj = x_mj·r_m·w_j, ε = 1e-6.
Backward, x: [M, N], w: [N], dy: [M, N], rstd: [M] fp32 -> (dx [M, N] in x's dtype, dw [N] fp32):
  c_m = (1/N) Σ_k dy_mk w_k x_mk;  dx_mj = r_m (dy_mj w_j − x_mj r_m² c_m);  dw_j = Σ_m dy_mj x_mj r_m.
The reference is the closed form in fp32 on upcast inputs (equal to autograd through the composed forward,
see tests), so the timed baseline is the same math at native input precision, as docs/TASKS.md §7 asks.
dw is a reduction over M rows: it is compared by relative L2 error, dx elementwise.
"""

import torch
from torch import nn

DESCRIPTION = "RMSNorm 2-D backward: dx and fp32 dw from x, w, dy, saved rstd (bf16 tokens x hidden)"

EPS = 1e-6
# Per output, keyed by the shape's input dtype (docs/TASKS.md §7, chosen).
TOLERANCES = [
    {"bfloat16": {"atol": 2e-2, "rtol": 2e-2}, "float32": {"atol": 1e-5, "rtol": 1e-4}},  # dx
    {"bfloat16": {"rel_l2": 1e-2}, "float32": {"rel_l2": 1e-5}},  # dw
]


def _shape(M, N, dtype="bfloat16"):
    return {"M": M, "N": N, "dtype": dtype}


# Production-like recsys training rows (tokens x hidden), chosen.
SHAPES = {
    "m16384_n256": _shape(16384, 256),
    "m8192_n512": _shape(8192, 512),
    "m4096_n1024": _shape(4096, 1024),
    "m2048_n4096": _shape(2048, 4096),
}
# fp32 variants and the chosen OOD: a row that does not fit one tile, and a dw reduction over ~1M rows.
HELDOUT_SHAPES = {
    "m16384_n256_fp32": _shape(16384, 256, dtype="float32"),
    "m4096_n1024_fp32": _shape(4096, 1024, dtype="float32"),
    "m3000_n1000": _shape(3000, 1000),
    "ood_m256_n65536": _shape(256, 65536),
    "ood_m1048576_n64": _shape(1048576, 64),
}
SMALL_SHAPES = {
    "m4_n32": _shape(4, 32),
    "m3_n17": _shape(3, 17),
    "m3_n17_fp32": _shape(3, 17, dtype="float32"),
}
SMALL_HELDOUT_SHAPES = {
    "m67_n5_fp32": _shape(67, 5, dtype="float32"),
    "m2_n300": _shape(2, 300),
}


class Model(nn.Module):
    """Closed-form RMSNorm backward in fp32; dx cast to x's dtype, dw kept fp32."""

    def forward(self, x: torch.Tensor, w: torch.Tensor, dy: torch.Tensor, rstd: torch.Tensor):
        # x: [M, N], w: [N], dy: [M, N], rstd: [M] fp32 -> (dx [M, N], dw [N] fp32)
        xf, wf, dyf = x.float(), w.float(), dy.float()
        r = rstd.float().unsqueeze(1)  # [M, 1]
        c = (dyf * wf * xf).mean(dim=1, keepdim=True)  # [M, 1]
        dx = r * (dyf * wf - xf * r * r * c)
        dw = (dyf * xf * r).sum(dim=0)
        return dx.to(x.dtype), dw


def make_inputs(shape, seed, device="cpu"):
    """x, dy = randn, w = 1 + 0.1·randn (in the shape's dtype); rstd from the rounded x, in fp32; on `device`."""
    gen = torch.Generator(device=device).manual_seed(seed)
    dtype = getattr(torch, shape["dtype"])
    M, N = shape["M"], shape["N"]
    x = torch.randn(M, N, generator=gen, device=device).to(dtype)
    w = (1.0 + 0.1 * torch.randn(N, generator=gen, device=device)).to(dtype)
    dy = torch.randn(M, N, generator=gen, device=device).to(dtype)
    rstd = torch.rsqrt(x.float().pow(2).mean(dim=1) + EPS)
    return [x, w, dy, rstd]


def get_inputs():
    return make_inputs(SHAPES["m16384_n256"], 42)


def get_init_inputs():
    return []


def flops(shape):
    """None: memory-bound by construction, so no FLOP roofline.

    About 8 FLOPs per element (c's product-sum, dx, dw's product-sum) against 6 (bf16) to 12 (fp32) bytes
    moved per element (read x and dy, write dx) is ~1 FLOP/byte, far below any GPU's ridge point; the
    bandwidth roofline (dram_bw_frac) is the meaningful one for this task.
    """
    return None
