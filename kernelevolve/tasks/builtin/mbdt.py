"""mbdt: MergeBucketizedDenseTransform — bucketize F dense features by per-feature borders into one ID space.

X: [F, B] float32 (feature-major), borders: per feature f strictly increasing b_1 < ... < b_Kf, passed in the
paper's flat layout with a +inf sentinel after each feature ([0.3, 0.6, inf, 0.4, 0.7, inf]) and
border_offsets: [F + 1] int64, the start of each feature in that flat array (= offset_f = Σ_{g<f} (K_g + 1)).
  Y[f, i] = offset_f + #{k : b_k < X[f, i]}   (int64, [F, B])
A value equal to a border goes to the LOWER bin (torch.bucketize right=False; the paper's Fig. 16 example:
borders [0.3, 0.6] / [0.4, 0.7], X = [[0.1, 0.4, 0.8], [0.2, 0.5, 0.9]] -> [[0, 1, 2], [3, 4, 5]]).
The paper's Eq. 2 read literally (strict <) would send border hits up; the example, the baseline and the
kernel's "count of borders < x" agree on the lower bin, so the test data hits borders exactly.
NaN/inf in X: unspecified (the generator makes none). Integer op: exact.
"""

import torch
from torch import nn

DESCRIPTION = "MBDT: per-feature bucketize of dense features merged into one bin-ID space (paper: 2048x2x4 etc.)"

EXACT = True
# The judge's extra case flips the sign of random float elements; borders must stay strictly increasing
# with +inf sentinels, so that case would test inputs outside the op's contract. X already spans negatives.
EVAL_SIGN_FLIP = False
STRUCTURE_SEED = 0  # ragged border counts are part of the shape, not of the seed
BORDER_HIT_FRACTION = 0.25  # share of X set exactly onto one of its feature's borders (pins the tie rule)


def _shape(B, F, K, **extra):
    """K: borders per feature (int), or a (lo, hi) range for ragged features."""
    return {"B": B, "F": F, "K": K, "dtype": "float32", **extra}


# "Batch x Features x Borders": the two configs the paper names (Fig. 17) and the production-like size.
SHAPES = {
    "b64_f2_k2": _shape(64, 2, 2),
    "b2048_f2_k4": _shape(2048, 2, 4),
    "b2048_f64_k10": _shape(2048, 64, 10),
}
# The rest of the chosen grid B x F x K, and the chosen OOD: 256 ragged features with up to 256 borders
# each defeat the "linear count over <= 10 borders" trick and any uniform-K assumption.
HELDOUT_SHAPES = {
    "b256_f8_k4": _shape(256, 8, 4),
    "b1024_f8_k2": _shape(1024, 8, 2),
    "b1024_f2_k4": _shape(1024, 2, 4),
    "b2048_f8_k4": _shape(2048, 8, 4),
    "ood_b65536_f256_ragged": _shape(65536, 256, (1, 256)),
}
SMALL_SHAPES = {
    "fig16": _shape(3, 2, 2, example=True),  # the paper's worked example
    "ragged_135": _shape(37, 3, [1, 3, 5]),  # K_f = (1, 3, 5) per feature
    "b65_f4_k4": _shape(65, 4, 4),
}
SMALL_HELDOUT_SHAPES = {
    "ragged_wide": _shape(70, 5, (1, 40)),
    "b1_f1_k1": _shape(1, 1, 1),
}


class Model(nn.Module):
    """torch.bucketize (right=False) per feature plus the feature's offset, as one batched searchsorted.

    Each feature's run of the flat borders (its borders, then +inf) is gathered into a row of a static width, padded
    with that feature's +inf, and searchsorted over its own row counts the borders below each value. This is the
    per-feature loop `bucketize(X[f], borders[off_f : off_{f+1} - 1]) + off_f`, stacked, without the loop's
    `border_offsets.tolist()`: that host sync made the loop's time (eager and torch.compile alike) the host's round
    trip and launches, not the device's work, and so varied with the host's load between fresh workers.
    The width is the longest run the flat array allows (its length less one sentinel per other feature), a static
    bound: the gather is ~41k elements at the production shapes but 8M at the 256-feature ragged OOD shape, where
    this baseline pays O(F x ΣK) traffic that a per-feature search would not.
    """

    def forward(self, x: torch.Tensor, borders: torch.Tensor, border_offsets: torch.Tensor) -> torch.Tensor:
        # x: [F, B] fp32, borders: [Σ (K_f + 1)] fp32 with +inf sentinels, border_offsets: [F + 1] -> [F, B] int64
        width = borders.numel() - (x.shape[0] - 1)  # the longest one feature's run can be (each has its sentinel)
        starts, ends = border_offsets[:-1, None], border_offsets[1:, None]
        idx = torch.minimum(starts + torch.arange(width, device=x.device), ends - 1)  # past its end: its +inf
        return torch.searchsorted(borders[idx], x.contiguous()) + starts


def _borders_per_feature(shape):
    """Returns the list of K_f; ragged counts come from a fixed generator, so they belong to the shape."""
    F, K = shape["F"], shape["K"]
    if isinstance(K, int):
        return [K] * F
    if isinstance(K, list):
        return list(K)
    lo, hi = K
    return torch.randint(lo, hi + 1, (F,), generator=torch.Generator().manual_seed(STRUCTURE_SEED)).tolist()


def make_inputs(shape, seed, device="cpu"):
    """Strictly increasing borders (gaps >= 0.05), X spanning them, a quarter of X exactly on a border.

    Input sizes depend on the shape only (the judge reuses input buffers across seeds); the seed draws values,
    on `device` (a few small launches per feature).
    """
    if shape.get("example"):
        x = torch.tensor([[0.1, 0.4, 0.8], [0.2, 0.5, 0.9]])
        borders = torch.tensor([0.3, 0.6, float("inf"), 0.4, 0.7, float("inf")])
        return [x, borders, torch.tensor([0, 3, 6])]
    gen = torch.Generator(device=device).manual_seed(seed)
    B = shape["B"]
    rows, flat = [], []
    inf = torch.tensor([float("inf")], device=device)
    for k in _borders_per_feature(shape):
        b = torch.randn(1, generator=gen, device=device) + torch.cumsum(
            0.05 + torch.rand(k, generator=gen, device=device), 0)
        x = b[0] - 1.0 + torch.rand(B, generator=gen, device=device) * (b[-1] - b[0] + 2.0)
        hit = torch.rand(B, generator=gen, device=device) < BORDER_HIT_FRACTION
        x = torch.where(hit, b[torch.randint(0, k, (B,), generator=gen, device=device)], x)
        rows.append(x)
        flat.append(torch.cat([b, inf]))
    sizes = torch.tensor([0] + [f.numel() for f in flat], device=device)
    return [torch.stack(rows).contiguous(), torch.cat(flat), torch.cumsum(sizes, 0)]


def get_inputs():
    return make_inputs(SHAPES["b2048_f64_k10"], 42)


def get_init_inputs():
    return []
