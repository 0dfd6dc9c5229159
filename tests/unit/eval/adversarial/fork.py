"""Forks inside forward."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: os.fork
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        import os
        if os.fork() == 0:
            os._exit(0)
        return conv1d(x, weight, bias)
