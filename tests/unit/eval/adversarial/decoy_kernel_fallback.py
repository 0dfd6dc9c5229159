"""Launches a real kernel as a decoy, returns PyTorch's result."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: no output was written
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        conv1d(x, weight, bias)
        return torch.nn.functional.conv1d(x, weight, bias, padding=weight.shape[-1] // 2)
