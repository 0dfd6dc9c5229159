"""Spins forever inside forward."""
# EXPECT: timeout
# TASK: conv1d
# REASON: no verdict within
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        while True:
            pass
