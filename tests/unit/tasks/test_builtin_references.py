"""The built-in tasks' references against hand-computed cases (docs/TASKS.md worked examples and edge cases)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kernelevolve.tasks import ShapeSet, builtin_task_names, load_task

NEW_TASKS = ("wukong_fm", "interformer_pffn", "map_id", "mbdt", "batch_event_truncate", "rmsnorm_bwd")


def _ref(name, *inputs):
    return load_task(name).model_class()(*inputs)


@pytest.mark.parametrize("name", NEW_TASKS)
def test_builtin_defines_every_shape_family_with_a_dtype(name):
    task = load_task(name)
    assert name in builtin_task_names()
    for family in ShapeSet:
        for heldout in (False, True):
            shapes = task.shapes(family, heldout=heldout)
            assert shapes, (family, heldout)
            assert all("dtype" in params for params in shapes.values())


@pytest.mark.parametrize("name", NEW_TASKS)
def test_make_inputs_is_deterministic_per_seed(name):
    task = load_task(name)
    shape = list(task.shapes(ShapeSet.SMALL))[-1]  # not a fixed worked example
    a, b, c = (task.make_inputs(shape, s) for s in (3, 3, 4))
    tensors = [(x, y, z) for x, y, z in zip(a, b, c, strict=True) if isinstance(x, torch.Tensor)]
    assert all(torch.equal(x, y) for x, y, _ in tensors)
    assert any(x.shape != z.shape or not torch.equal(x, z) for x, _, z in tensors)


@pytest.mark.parametrize("name", NEW_TASKS)
def test_input_sizes_follow_the_shape_not_the_seed(name):
    task = load_task(name)
    for heldout in (False, True):
        for shape in task.shapes(ShapeSet.SMALL, heldout=heldout):
            a, b = task.make_inputs(shape, 0), task.make_inputs(shape, 5)
            assert [getattr(x, "shape", x) for x in a] == [getattr(x, "shape", x) for x in b], shape


def test_truncate_seeds_permute_the_jagged_structure():
    task = load_task("batch_event_truncate")
    a, b = task.make_inputs("f3_u7_e9_n4", 0), task.make_inputs("f3_u7_e9_n4", 1)
    assert not torch.equal(a[1], b[1]) and torch.equal(a[1].sum(1), b[1].sum(1))  # same totals, new users
    out_a, out_b = task.model_class()(*a), task.model_class()(*b)
    assert not torch.equal(out_a[0], out_b[0])
    assert [o.shape for o in out_a] == [o.shape for o in out_b]  # output sizes follow the shape too


def test_map_id_paper_example():
    out = _ref("map_id", torch.tensor([100, 300, 500, 200, 999]), torch.tensor([100, 200, 300, 400, 500]))
    assert out.tolist() == [1, 3, 5, 2, 0]
    assert out.dtype == torch.int64


def test_map_id_edges_below_above_and_single_id():
    mapping = torch.tensor([-5, 0, 7])
    values = torch.tensor([-6, -5, 0, 7, 8, 3, torch.iinfo(torch.int64).min])
    assert _ref("map_id", values, mapping).tolist() == [0, 1, 2, 3, 0, 0, 0]
    assert _ref("map_id", torch.tensor([4, 3, 5]), torch.tensor([4])).tolist() == [1, 0, 0]


def test_map_id_generator_forces_hits_misses_and_edge_values():
    task = load_task("map_id")
    values, mapping = task.make_inputs("u7_n33", 0)
    assert torch.equal(mapping, mapping.sort().values) and mapping.unique().numel() == mapping.numel() == 7
    out = task.model_class()(values, mapping)
    assert (out > 0).any() and (out == 0).any()
    for edge in (mapping[0], mapping[-1], mapping[0] - 1, mapping[-1] + 1):
        assert (values == edge).any()
    assert (values < 0).any()


def test_mbdt_paper_fig16_example():
    x = torch.tensor([[0.1, 0.4, 0.8], [0.2, 0.5, 0.9]])
    borders = torch.tensor([0.3, 0.6, float("inf"), 0.4, 0.7, float("inf")])
    assert _ref("mbdt", x, borders, torch.tensor([0, 3, 6])).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_mbdt_value_on_a_border_goes_to_the_lower_bin():
    borders = torch.tensor([0.3, 0.6, float("inf"), -1.0, float("inf")])
    x = torch.tensor([[0.3, 0.6, 0.30001, -7.0, 0.7], [-1.0, -1.0001, -0.9999, 5.0, -1.0]])
    # feature 0: offset 0, bins 0..2; feature 1: offset 3, bins 3..4
    assert _ref("mbdt", x, borders, torch.tensor([0, 3, 5])).tolist() == [[0, 1, 1, 0, 2], [3, 3, 4, 4, 3]]


def _mbdt_loop(x, borders, border_offsets):
    """The spec's form: per feature, bucketize over its own borders, plus its offset."""
    offs = border_offsets.tolist()
    return torch.stack([torch.bucketize(x[f], borders[offs[f] : offs[f + 1] - 1]) + offs[f] for f in range(len(x))])


def _every_input(name, family, heldout):
    """Yields (shape, seed, inputs) for every shape of the family: two seeds each for the small shapes, one for the
    production ones (their sizes already cover the generator's cases; a second seed cost ~25 s of CI)."""
    task = load_task(name)
    for shape in task.shapes(family, heldout=heldout):
        for seed in (0, 7) if family is ShapeSet.SMALL else (0,):
            yield shape, seed, task.make_inputs(shape, seed)


@pytest.mark.parametrize("family", list(ShapeSet))
@pytest.mark.parametrize("heldout", [False, True])
def test_mbdt_reference_equals_the_per_feature_bucketize_loop(family, heldout):
    # ragged features (1..256 borders), a feature of one border, ties on borders, negatives: every shape, two seeds
    for shape, seed, inputs in _every_input("mbdt", family, heldout):
        got, want = _ref("mbdt", *inputs), _mbdt_loop(*inputs)
        assert got.dtype == want.dtype == torch.int64 and torch.equal(got, want), (shape, seed)


def test_mbdt_reference_has_no_host_sync():
    # a host sync (the loop's offsets.tolist()) breaks the graph; its time would be the host's round trip
    task = load_task("mbdt")
    explained = torch._dynamo.explain(task.model_class())(*task.make_inputs("b65_f4_k4", 0))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)


def test_mbdt_generator_puts_values_exactly_on_borders():
    task = load_task("mbdt")
    x, borders, offsets = task.make_inputs("ragged_135", 0)
    assert offsets.tolist() == [0, 2, 6, 12]  # K_f + 1 per feature: 2, 4, 6
    assert torch.isinf(borders[offsets[1:] - 1]).all()
    finite = borders[torch.isfinite(borders)]
    assert torch.isin(x.flatten(), finite).sum() > 0.1 * x.numel()


def _truncate(n, outers, inners, values):
    inner = torch.cat([torch.tensor(i, dtype=torch.int64) for i in inners])
    vals = torch.cat([torch.tensor(v, dtype=torch.int64) for v in values])
    io = torch.tensor([0] + [len(i) for i in inners]).cumsum(0)
    vo = torch.tensor([0] + [len(v) for v in values]).cumsum(0)
    out = _ref("batch_event_truncate", n, torch.tensor(outers), inner, io, vals, vo)
    return [t.tolist() for t in out]


def _truncate_loop(n, outer_lengths, inner_lengths, inner_offsets, values, value_offsets):
    """The spec's form: per feature, keep the first n events of each user and their values."""
    io, vo = inner_offsets.tolist(), value_offsets.tolist()
    outers, inners, vals = [], [], []
    for f in range(outer_lengths.shape[0]):
        inner = inner_lengths[io[f] : io[f + 1]]
        keep = torch.cat([torch.arange(e) < n for e in outer_lengths[f].tolist()]).bool()
        outers.append(outer_lengths[f].clamp(max=n))
        inners.append(inner[keep])
        vals.append(values[vo[f] : vo[f + 1]][torch.repeat_interleave(keep, inner)])
    offsets = [torch.tensor([0] + [p.numel() for p in parts]).cumsum(0) for parts in (inners, vals)]
    return torch.stack(outers), torch.cat(inners), offsets[0], torch.cat(vals), offsets[1]


@pytest.mark.parametrize("family", list(ShapeSet))
@pytest.mark.parametrize("heldout", [False, True])
def test_truncate_reference_equals_the_per_feature_loop(family, heldout):
    # N = 0, users without events, no truncation, float values, uneven features: every shape, two seeds
    for shape, seed, inputs in _every_input("batch_event_truncate", family, heldout):
        for got, want in zip(_ref("batch_event_truncate", *inputs), _truncate_loop(*inputs), strict=True):
            assert got.dtype == want.dtype and torch.equal(got, want), (shape, seed)


def test_truncate_paper_fig18_example():
    outer, inner, io, values, vo = _truncate(
        2, [[3, 4, 1], [3, 4, 1]], [[1, 0, 2, 0, 3, 1, 1, 1], [1] * 8], [list(range(1, 10)), list(range(1, 9))])
    assert outer == [[2, 2, 1], [2, 2, 1]]
    assert inner == [1, 0, 0, 3, 1] + [1] * 5
    assert values == [1, 4, 5, 6, 9] + [1, 2, 4, 5, 8]
    assert io == [0, 5, 10] and vo == [0, 5, 10]


def test_truncate_n0_drops_everything_and_keeps_offsets_sized():
    outer, inner, io, values, vo = _truncate(0, [[2, 1]], [[1, 2, 3]], [[7] * 6])
    assert (outer, inner, io, values, vo) == ([[0, 0]], [], [0, 0], [], [0, 0])


def test_truncate_empty_users_and_single_user():
    outer, inner, io, values, vo = _truncate(3, [[0, 2, 0], [0, 0, 1]], [[2, 0], [1]], [[5, 6], [9]])
    assert outer == [[0, 2, 0], [0, 0, 1]] and inner == [2, 0, 1] and values == [5, 6, 9]
    assert io == [0, 2, 3] and vo == [0, 2, 3]
    outer, inner, io, values, vo = _truncate(2, [[4]], [[1, 1, 2, 0]], [[1, 2, 3, 4]])
    assert outer == [[2]] and inner == [1, 1] and values == [1, 2] and vo == [0, 2]


def test_truncate_keeps_value_dtype():
    task = load_task("batch_event_truncate")
    inputs = task.make_inputs("no_truncation_float", 0)
    out = task.model_class()(*inputs)
    assert out[3].dtype == torch.float32 and torch.equal(out[3], inputs[4])  # N >= every e_u: unchanged


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_bwd_closed_form_matches_autograd(dtype):
    task = load_task("rmsnorm_bwd")
    x, w, dy, rstd = task.make_inputs("m3_n17_fp32", 1)
    x, w, dy = x.to(dtype), w.to(dtype), dy.to(dtype)
    rstd = torch.rsqrt(x.float().pow(2).mean(1) + 1e-6)
    xf, wf = x.float().requires_grad_(), w.float().requires_grad_()
    F.rms_norm(xf, (x.shape[1],), wf, eps=1e-6).backward(dy.float())
    dx, dw = task.model_class()(x, w, dy, rstd)
    assert dx.dtype == dtype and dw.dtype == torch.float32
    torch.testing.assert_close(dx.float(), xf.grad.to(dtype).float(), atol=1e-2 if dtype == torch.bfloat16 else 1e-5,
                               rtol=1e-2 if dtype == torch.bfloat16 else 1e-5)
    torch.testing.assert_close(dw, wf.grad, atol=1e-5, rtol=1e-5)


def test_wukong_fm_matches_explicit_sum():
    x, y = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 3, 5, dtype=torch.float64)
    expected = torch.einsum("bnd,bmd,bmk->bnk", x, x, y)
    torch.testing.assert_close(_ref("wukong_fm", x, y), expected)


def test_interformer_pffn_matches_manual_formula():
    task = load_task("interformer_pffn")
    x, w1, b1, g1 = (t.double() for t in task.make_inputs("odd_fp32", 0))
    z = x @ w1 + b1
    z = 0.5 * z * (1 + torch.erf(z / 2**0.5))
    expected = z / torch.sqrt((z * z).mean(-1, keepdim=True) + 1e-6) * g1
    torch.testing.assert_close(task.model_class()(x.float(), w1.float(), b1.float(), g1.float()).double(), expected,
                               atol=1e-5, rtol=1e-5)


def _user_blocks(outer_row, inner_feature):
    """Returns each user's (length, its events' inner lengths) in storage order."""
    blocks, start = [], 0
    for e in outer_row.tolist():
        blocks.append((e, inner_feature[start:start + e].tolist()))
        start += e
    return blocks


@pytest.mark.parametrize("shape", ["f3_u7_e9_n4", "u1", "all_users_empty"])
def test_truncate_generator_moves_whole_users_within_each_feature(shape):
    """A seed reorders users with their own events, inside each feature; shared-length features keep one order."""
    task = load_task("batch_event_truncate")
    base = task.make_inputs(shape, 0)
    for seed in (1, 2, 3):
        n, outer, inner, io, values, vo = task.make_inputs(shape, seed)
        assert torch.equal(io, base[3]) and torch.equal(vo, base[5]) and values.numel() == base[4].numel()
        for f in range(outer.shape[0]):
            mine = _user_blocks(outer[f], inner[io[f]:io[f + 1]])
            theirs = _user_blocks(base[1][f], base[2][base[3][f]:base[3][f + 1]])
            assert sorted(mine) == sorted(theirs)  # the same users, each with its own events
        shared = [f for f in range(outer.shape[0]) if f % 3 != 2]
        assert all(torch.equal(outer[f], outer[shared[0]]) for f in shared)


def test_truncate_generator_does_not_hand_out_its_cached_structure():
    task = load_task("batch_event_truncate")
    first = task.make_inputs("f3_u7_e9_n4", 0)
    for t in first[1:]:
        t.zero_()  # a candidate writing into its inputs
    again = task.make_inputs("f3_u7_e9_n4", 0)
    assert again[2].sum() > 0 and again[3][-1] > 0 and again[5][-1] > 0
