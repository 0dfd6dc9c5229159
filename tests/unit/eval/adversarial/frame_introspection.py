"""Walks up the stack to read the harness's locals (reference outputs, nonce)."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: sys._getframe
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        import sys
        _ = sys._getframe(3).f_locals
        return conv1d(x, weight, bias)
