"""scale_shift: y = x * w + b in fp32; the task's x is non-negative (test task for the judge)."""

import torch
from torch import nn

SHAPES = {"n37": {"n": 37}, "n300": {"n": 300}}
HELDOUT_SHAPES = {"n1": {"n": 1}}


class Model(nn.Module):
    def forward(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return x * w + b


def make_inputs(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    n = shape["n"]
    x = torch.rand(n, generator=gen)  # [0, 1): a kernel may wrongly assume x >= 0
    w = torch.rand(n, generator=gen) + 0.5
    b = torch.randn(n, generator=gen)
    return [x, w, b]


def get_inputs():
    return make_inputs(SHAPES["n300"], 0)


def get_init_inputs():
    return []
