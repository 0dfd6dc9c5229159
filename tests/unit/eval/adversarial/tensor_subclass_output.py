"""Returns a Tensor subclass whose __torch_function__ could fake comparisons."""
# EXPECT: incorrect
# TASK: conv1d
# REASON: _Sneaky
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class _Sneaky(torch.Tensor):
    pass


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return conv1d(x, weight, bias).as_subclass(_Sneaky)
