"""map_id: MapIdTransform — position (1-based) of each value in a sorted unique ID mapping, 0 if absent.

mapping M: [U] sorted ascending, unique; values V: [n] -> out: [n] int64,
out[j] = i + 1 if M[i] == V[j] else 0 (KernelEvolve §5.4.1, Table 6:
values [100, 300, 500, 200, 999] over mapping [100, 200, 300, 400, 500] -> [1, 3, 5, 2, 0]).
The reference is the paper's module: bucketize (lower bound) -> clamp -> gather -> compare -> where, 4-5
launches plus intermediates. At the paper's sizes the op is launch-bound on a GPU. Integer op: exact.
"""

import torch
from torch import nn

DESCRIPTION = "MapId: 1-based index of each ID in a sorted unique mapping, 0 if missing (paper: U x n up to 1e4 x 5e4)"

EXACT = True
ID_HIGH = 1 << 40  # ID space of the generator: [0, 2^40) for int64 (docs/TASKS.md §4), [0, 2^30) for int32


def _shape(U, n, dtype="int64", **extra):
    return {"U": U, "n": n, "dtype": dtype, **extra}


# Paper Table 7 ("UniqueIDs x Batch"): the ends of its U sweep (n = 10000) and of its n sweep (U = 10000).
SHAPES = {
    "u100_n10000": _shape(100, 10000),
    "u5000_n10000": _shape(5000, 10000),
    "u10000_n2000": _shape(10000, 2000),
    "u10000_n50000": _shape(10000, 50000),
}
# The rest of Table 7, an int32-ID variant, and the chosen OOD size: U = 2e6 exceeds the paper kernel's
# 20-step binary search (valid for U <= 2^20) and n = 1e7 makes the op bandwidth-bound (~176 MB in all).
HELDOUT_SHAPES = {
    "u500_n10000": _shape(500, 10000),
    "u1000_n10000": _shape(1000, 10000),
    "u10000_n4000": _shape(10000, 4000),
    "u10000_n6000": _shape(10000, 6000),
    "u10000_n8000": _shape(10000, 8000),
    "u10000_n10000": _shape(10000, 10000),
    "u10000_n50000_int32": _shape(10000, 50000, dtype="int32"),
    "ood_u2m_n10m": _shape(2_000_000, 10_000_000),
}
SMALL_SHAPES = {
    "table6": _shape(5, 5, example=True),  # the paper's worked example
    "u1_n33": _shape(1, 33),
    "u7_n33": _shape(7, 33),
}
SMALL_HELDOUT_SHAPES = {
    "u100_n257_negative_ids": _shape(100, 257, negative=True),  # mapping itself holds negative IDs
    "u37_n65_int32": _shape(37, 65, dtype="int32"),
}


class Model(nn.Module):
    """The paper's module: bucketize -> clamp(max=U-1) -> gather -> where(equal, idx + 1, 0)."""

    def forward(self, values: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
        # values: [n], mapping: [U] sorted unique -> [n] int64
        idx = torch.bucketize(values, mapping)  # first i with mapping[i] >= v (U if none)
        idx = torch.clamp(idx, max=mapping.numel() - 1)
        found = torch.gather(mapping, 0, idx)
        return torch.where(found == values, idx + 1, torch.zeros_like(idx))


def _sorted_unique_ids(U, low, high, gen, device="cpu"):
    """Returns U sorted unique IDs drawn uniformly from [low, high), on `device`."""
    ids = torch.empty(0, dtype=torch.int64, device=device)
    while ids.numel() < U:  # collisions are rare in a 2^40 space; top up until there are U
        extra = torch.randint(low, high, (U - ids.numel() + 8,), generator=gen, device=device)
        ids = torch.unique(torch.cat([ids, extra]))
    keep = torch.randperm(ids.numel(), generator=gen, device=device)[:U].sort().values
    return ids[keep]


def make_inputs(shape, seed, device="cpu"):
    """mapping: sorted unique IDs; values: 60% hits, 40% random misses, plus forced edge cases."""
    dtype = getattr(torch, shape["dtype"])
    if shape.get("example"):
        values = torch.tensor([100, 300, 500, 200, 999])
        return [values.to(dtype), torch.tensor([100, 200, 300, 400, 500]).to(dtype)]
    gen = torch.Generator(device=device).manual_seed(seed)
    U, n = shape["U"], shape["n"]
    high = ID_HIGH if dtype == torch.int64 else 1 << 30
    low = -(high // 2) if shape.get("negative") else 0
    mapping = _sorted_unique_ids(U, low, low + high, gen, device)
    hits = mapping[torch.randint(0, U, (n,), generator=gen, device=device)]
    misses = torch.randint(low, low + high, (n,), generator=gen, device=device)
    values = torch.where(torch.rand(n, generator=gen, device=device) < 0.6, hits, misses)
    # below the first ID, above the last, exactly the first and last, and negative IDs
    fixed = torch.tensor([-1, torch.iinfo(dtype).min], device=device)
    edges = torch.cat([torch.stack([mapping[0] - 1, mapping[-1] + 1, mapping[0], mapping[-1]]), fixed])
    where = torch.randperm(n, generator=gen, device=device)[: min(n, edges.numel())]
    values[where] = edges[: where.numel()]
    return [values.to(dtype), mapping.to(dtype)]


def get_inputs():
    return make_inputs(SHAPES["u10000_n50000"], 42)


def get_init_inputs():
    return []
