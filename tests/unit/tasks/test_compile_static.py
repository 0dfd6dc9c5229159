"""The torch.compile baseline is a static compile per shape, for every shape of a task."""

import torch
from torch import nn

from kernelevolve.tasks.reference import compile_static


class _RowSum(nn.Module):
    def forward(self, x):
        return (x * 2).sum(0)


def test_every_shape_gets_its_own_static_graph_even_past_dynamos_default_recompile_limit():
    torch._dynamo.reset()
    seen: list[list[object]] = []

    def backend(gm, example_inputs):
        seen.append([tuple(t.shape) if isinstance(t, torch.Tensor) else t for t in example_inputs])
        return gm.forward

    rows = [3, 8, 17, 1, 5, 6, 7, 9, 10, 11, 12]  # 11 shapes of one Model class: more than dynamo's default 8
    for n in rows:
        model = compile_static(_RowSum(), backend=backend)  # a fresh instance per shape, as the worker builds them
        x = torch.arange(n * 4, dtype=torch.float32).reshape(n, 4) - 7.5
        assert torch.equal(model(x), (x * 2).sum(0))
    # One graph per shape, each with concrete sizes: a symbolic size (an int or SymInt argument) would mean dynamo
    # compiled a later shape "automatic dynamic"; fewer graphs would mean it fell back to eager past its limit.
    assert seen == [[(n, 4)] for n in rows]
