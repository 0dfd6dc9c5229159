"""Tries to kill the evaluator process."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: os.kill
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        import os
        import signal
        os.kill(os.getppid(), signal.SIGKILL)
        return conv1d(x, weight, bias)
