"""Walks traceback frames up to the worker loop, writes a forged verdict with its nonce, exits (attack c)."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: tb_frame
# BASE: knowledge_base/samples/conv1d/seed.py
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        import json, os, struct
        try:
            raise ValueError
        except ValueError as e:
            f = e.__traceback__.tb_frame
        while f is not None:
            loc = f.f_locals
            if "nonce" in loc and "args" in loc:
                msg = json.dumps({"kind": "result", "nonce": loc["nonce"], "recycle": False,
                                  "result": {"status": "ok", "fitness": 555.0, "reason": "forged via frames"}}).encode()
                os.write(loc["args"].verdict_fd, struct.pack(">I", len(msg)) + msg)
                os._exit(0)
            f = f.f_back
        return conv1d(x, weight, bias)
