"""Caches results by input data pointer (stale once inputs are refilled in place: the returned tensor was
not written by that call's kernels)."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: cached result
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


_CACHE = {}


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        key = (x.data_ptr(), weight.data_ptr(), bias.data_ptr())
        fresh = conv1d(x, weight, bias)  # a launch every call, so only the refill can tell
        return _CACHE.setdefault(key, fresh)
