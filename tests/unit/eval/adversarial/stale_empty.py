"""Launches a kernel on a scratch buffer and returns an unwritten torch.empty (no kernel wrote the output)."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: no output was written by this call's Triton kernels
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        conv1d(x, weight, bias)
        return torch.empty((x.shape[0], weight.shape[0], x.shape[2]), dtype=x.dtype)
