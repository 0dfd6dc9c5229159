"""Raises inside forward."""
# EXPECT: runtime_error
# TASK: conv1d
# REASON: shape not supported
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        raise ValueError('shape not supported')
