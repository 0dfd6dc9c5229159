"""batch_event_truncate: keep the first N events of every user in jagged event-based features (KernelEvolve §5.5).

Per feature f (F features, U users), a 2-level jagged tensor: outer_lengths[f, u] = e_u events of user u;
inner lengths a_{u,j} (attribute values per event, events user-major in sequence order); values flattened in
the same order. Packed batched API (docs/TASKS.md §6): outer_lengths [F, U] int64; inner_lengths of all features
concatenated feature-major with inner_offsets [F + 1]; values concatenated feature-major with
value_offsets [F + 1]. Given N, keep the first min(e_u, N) events of each user (storage-order prefix, as
FBGEMM's jagged_1d_to_truncated_values) with all their values, drop the rest.
Outputs, exactly sized: (outer' [F, U], inner' [Σ kept events], inner_offsets' [F + 1], values' [Σ kept
values], value_offsets' [F + 1]). One device->host sync to size the outputs is allowed. Exact equality.
Paper Fig. 18 (N = 2): feature 0 outer [3, 4, 1], inner [1,0,2, 0,3,1,1, 1], values 1..9 ->
outer [2, 2, 1], inner [1,0, 0,3, 1], values [1, 4,5,6, 9].
"""

import torch
from torch import nn

DESCRIPTION = "Batch event truncate: keep the first N events per user of jagged multi-feature sequences"

EXACT = True
# torch 2.11 + triton 3.6 on the H100: Inductor's split kernels faulted on this op ("operation not supported on
# global/shared address space" for a split reduction; "an illegal memory access" for the split scan of a 1.7M-event
# repeat_interleave). No split reductions here; split scans are not covered by this option (Inductor splits long
# scans whatever it says), so the reference keeps its scans in ATen (_repeat).
COMPILE_OPTIONS = {"split_reductions": False}
ID_HIGH = 1 << 40
STRUCTURE_SEED = 0  # jagged sizes are part of the shape; seeds permute them


def _shape(F, U, E, N, A=3, dtype="int64", **extra):
    """F features, U users, e_u ~ U{0..E}, a ~ U{0..A} on even features and a = 1 on odd ones, keep N."""
    return {"F": F, "U": U, "E": E, "N": N, "A": A, "dtype": dtype, **extra}


# Paper Table 8 (F, events, N) with the chosen U = 512. N = 200 truncates nothing (the paper's fast path).
SHAPES = {
    "f1_e200_n100": _shape(1, 512, 200, 100),
    "f1_e200_n200": _shape(1, 512, 200, 200),
    "f5_e200_n100": _shape(5, 512, 200, 100),
    "f9_e200_n200": _shape(9, 512, 200, 200),
    "f32_e200_n100": _shape(32, 512, 200, 100),
    "f32_e200_n200": _shape(32, 512, 200, 200),
}
# The chosen U sweep, float32 (weighted) values, and a scaled-down OOD. The full chosen OOD (U = 4096, F = 64,
# e_u up to 1000, a up to 16, N = 50) is omitted: ~130M events and ~600M values need > 8 GB with the reference.
HELDOUT_SHAPES = {
    "u128_f9_e200_n100": _shape(9, 128, 200, 100),
    "u2048_f9_e200_n100": _shape(9, 2048, 200, 100),
    "f9_e200_n100_float": _shape(9, 512, 200, 100, dtype="float32"),
    "ood_u4096_f8_e1000_a16_n50": _shape(8, 4096, 1000, 50, A=16),
}
SMALL_SHAPES = {
    "fig18": _shape(2, 3, 4, 2, example=True),  # the paper's worked example
    "f3_u7_e9_n4": _shape(3, 7, 9, 4),
    "n0": _shape(2, 5, 6, 0),
    "u1": _shape(3, 1, 9, 4),
}
SMALL_HELDOUT_SHAPES = {
    "all_users_empty": _shape(2, 6, 0, 3),
    "no_truncation_float": _shape(4, 9, 5, 5, A=5, dtype="float32"),
}


@torch.compiler.disable
def _repeat(x: torch.Tensor, repeats: torch.Tensor, size: int) -> torch.Tensor:
    """torch.repeat_interleave in ATen, also under torch.compile.

    Inductor lowers repeat_interleave and cumsum to scans that it splits over blocks when they are long, and that
    split-scan kernel faults ("an illegal memory access") on torch 2.11 + triton 3.6 on the H100 (f32_e200_n200's
    1.7M events, measured), so the baseline keeps its scans in ATen.
    """
    return torch.repeat_interleave(x, repeats, output_size=size)


@torch.compiler.disable
def _users_of_events(outer: torch.Tensor, events: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (each event's user, that user's first event) for users of `outer` events each, in ATen (_repeat)."""
    users = _repeat(torch.arange(outer.numel(), device=outer.device), outer, events)
    return users, (torch.cumsum(outer, 0) - outer)[users]


class Model(nn.Module):
    """Keeps the first N events of each user, all features in one pass; the output sizes are its only host sync.

    Features are concatenated feature-major and each feature's events user-major, so the events of all F x U users
    form one jagged sequence: an event's rank within its user (its index minus its user's first event) says whether
    it is kept, and that mask expanded by the inner lengths says which values are. The per-feature offsets come
    from per-feature sums on the device. A per-feature loop (the spec's form, which the tests compare this against)
    read the feature offsets back to the host and launched every step once per feature, so its time was mostly the
    host's, and Dynamo traced every feature's pieces (114 static graphs for the six production shapes).
    """

    def forward(self, n, outer_lengths, inner_lengths, inner_offsets, values, value_offsets):
        # shapes: outer_lengths [F, U], inner_lengths [ΣE], inner_offsets [F + 1], values [ΣV],
        # value_offsets [F + 1] -> (outer' [F, U], inner', inner_offsets', values', value_offsets')
        F, U = outer_lengths.shape
        outer = outer_lengths.flatten()
        events, device = inner_lengths.numel(), outer.device
        event_user, starts = _users_of_events(outer, events)
        keep = torch.arange(events, device=device) - starts < n  # the event's rank in its user < N
        kept_outer = outer_lengths.clamp(max=n)
        kept_values = torch.zeros(F, dtype=torch.int64, device=device).index_add_(
            0, event_user // U, torch.where(keep, inner_lengths, 0).to(torch.int64))  # int32 lengths too
        zero = torch.zeros(1, dtype=torch.int64, device=device)
        return (
            kept_outer,
            inner_lengths[keep],
            torch.cat([zero, torch.cumsum(kept_outer.sum(1), 0)]),
            values[_repeat(keep, inner_lengths, values.numel())],
            torch.cat([zero, torch.cumsum(kept_values, 0)]),
        )


def _fig18():
    outer = torch.tensor([[3, 4, 1], [3, 4, 1]])
    inner0, inner1 = torch.tensor([1, 0, 2, 0, 3, 1, 1, 1]), torch.ones(8, dtype=torch.int64)
    values = torch.cat([torch.arange(1, 10), torch.arange(1, 9)])
    return [2, outer, torch.cat([inner0, inner1]), torch.tensor([0, 8, 16]), values, torch.tensor([0, 9, 17])]


def _structure(shape, device="cpu"):
    """Returns (outer [F, U], inner [ΣE] of all features, events per feature, values per feature, the [2, F + 1]
    inner and value feature offsets, which features share one user order) drawn from a fixed generator: the
    shape's jagged sizes, on device, and their per-feature totals as host ints (drawn on the host once per shape
    and process: they do not depend on the seed, so building inputs needs no device sync)."""
    key = (tuple(sorted((k, str(v)) for k, v in shape.items())), str(device))
    if key not in _STRUCTURES:
        outer, inners = _draw_structure(shape)
        events, value_sizes = outer.sum(1).tolist(), [int(i.sum()) for i in inners]
        offsets = torch.tensor([[0] + events, [0] + value_sizes], dtype=torch.int64).cumsum(1)
        shared = torch.tensor([f % 3 != 2 for f in range(outer.shape[0])])  # features sharing one user order
        _STRUCTURES[key] = (outer.to(device), torch.cat(inners).to(device), events, value_sizes, offsets.to(device),
                            shared.to(device))
    return _STRUCTURES[key]


_STRUCTURES: dict = {}


def _draw_structure(shape):
    gen = torch.Generator().manual_seed(STRUCTURE_SEED)
    F, U, E, A = shape["F"], shape["U"], shape["E"], shape["A"]
    shared = torch.randint(0, E + 1, (U,), generator=gen)
    outer = torch.stack([shared if f % 3 != 2 else torch.randint(0, E + 1, (U,), generator=gen) for f in range(F)])
    inners = [torch.randint(0, A + 1, (e,), generator=gen) if f % 2 == 0 else torch.ones(e, dtype=torch.int64)
              for f, e in enumerate(outer.sum(1).tolist())]
    return outer, inners


def _permute_users(outer: torch.Tensor, inner: torch.Tensor, perm: torch.Tensor, total: int):
    """Returns (outer, inner) with users reordered by perm, each user's block of events moving with it.

    Vectorized: event j of the new order comes from the start of its user's old block plus its rank in it.
    `total` = inner.numel(), known on the host (no device sync).
    """
    lengths = outer[perm]
    if lengths.numel() == 0 or total == 0:
        return lengths, inner.clone()  # never the cached structure itself
    old_starts = (torch.cumsum(outer, 0) - outer)[perm]
    new_starts = torch.cumsum(lengths, 0) - lengths
    rank = torch.arange(total, device=inner.device) - torch.repeat_interleave(new_starts, lengths, output_size=total)
    return lengths, inner[torch.repeat_interleave(old_starts, lengths, output_size=total) + rank]


def make_inputs(shape, seed, device="cpu"):
    """e_u ~ U{0..E} (shared by features f % 3 != 2, independent otherwise); a ~ U{0..A} on even f, 1 on odd.

    Every input and output size depends on the shape only (the judge reuses buffers and output sizes across
    seeds): the seed reorders the users of each feature, each with its own events (one user order shared by the
    features f % 3 != 2, as they share their lengths), which keeps all totals and kept totals, and draws the
    values, on `device` (tens of millions of values at the larger shapes). All features are permuted in one pass
    (a feature's users are one block of the flattened [F * U] users) with the totals known on the host, so
    building a set costs a dozen launches and no device sync whatever F is (the judge builds one per timed call).
    """
    if shape.get("example"):
        return _fig18()
    outer, inner, events, value_sizes, offsets, shared = _structure(shape, device)
    F, U = outer.shape
    gen = torch.Generator(device=device).manual_seed(seed)
    keys = torch.rand(F, U, generator=gen, device=device)
    keys = torch.where(shared[:, None], keys[:1], keys)  # row 0 (f = 0) is one of the shared features
    perm = keys.argsort(dim=1, stable=True) + torch.arange(F, device=device)[:, None] * U
    lengths, inner = _permute_users(outer.flatten(), inner, perm.flatten(), sum(events))
    total = sum(value_sizes)
    if shape["dtype"] == "int64":
        values = torch.randint(0, ID_HIGH, (total,), generator=gen, device=device)
    else:
        values = torch.randn(total, generator=gen, device=device).to(getattr(torch, shape["dtype"]))
    offsets = offsets.clone()  # a candidate writing into its inputs must not reach the cached structure
    return [shape["N"], lengths.view(F, U), inner, offsets[0], values, offsets[1]]


def get_inputs():
    return make_inputs(SHAPES["f9_e200_n200"], 42)


def get_init_inputs():
    return []
