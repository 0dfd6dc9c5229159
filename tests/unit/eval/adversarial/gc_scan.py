"""Scans the heap with gc.get_objects to find reference tensors."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: gc.get_objects
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        import gc
        _ = [o for o in gc.get_objects() if isinstance(o, torch.Tensor)]
        return conv1d(x, weight, bias)
