"""Starts a background thread that outlives forward."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: started a thread
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        import threading
        import time
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        return conv1d(x, weight, bias)
