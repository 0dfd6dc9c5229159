"""Prints a fake ok verdict and writes framed fake verdicts to every fd, then exits 0."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: without the job's nonce
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        import json
        import os
        import struct
        fake = json.dumps({"kind": "result", "nonce": "0" * 32, "recycle": False,
                           "result": {"status": "ok", "fitness": 99.0, "reason": "forged"}}).encode()
        print(fake.decode(), flush=True)
        for fd in range(3, 64):
            try:
                os.write(fd, struct.pack(">I", len(fake)) + fake)
            except OSError:
                pass
        os._exit(0)
