"""Caches its output by input pointer + sums: every timed rep after the first launches nothing (attack d)."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: launched no Triton kernel
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self._cache = {}

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        key = (x.data_ptr(), float(x.sum()), float(weight.sum()), float(bias.sum()))
        if key in self._cache:
            return self._cache[key].clone()  # timing reps reuse the same inputs: cache hit, no kernel
        y = conv1d(x, weight, bias)
        self._cache[key] = y.clone()
        return y
