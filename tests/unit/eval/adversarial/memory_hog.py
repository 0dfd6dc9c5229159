"""Allocates far past the memory limit inside forward."""
# EXPECT: runtime_error
# TASK: conv1d
# REASON: out of memory
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        hog = bytearray(64 * 2**30)
        return conv1d(x, weight, bias) + len(hog)
