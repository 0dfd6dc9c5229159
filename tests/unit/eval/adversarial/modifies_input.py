"""Correct output, but scribbles on its input afterwards."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: was modified
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        y = conv1d(x, weight, bias)
        x.mul_(2.0)
        return y
