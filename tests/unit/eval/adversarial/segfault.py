"""Segfaults inside forward."""
# EXPECT: crashed
# TASK: conv1d
# REASON: SIGSEGV
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        import faulthandler
        faulthandler._sigsegv()
