"""Calls os._exit(0) inside forward (the worker dies with exit code 0)."""
# EXPECT: crashed
# TASK: conv1d
# REASON: exit code 0
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        import os
        os._exit(0)
