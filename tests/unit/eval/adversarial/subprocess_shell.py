"""Starts a shell inside forward."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: subprocess
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        import subprocess
        subprocess.run(['sh', '-c', 'echo pwned'], check=False)
        return conv1d(x, weight, bias)
