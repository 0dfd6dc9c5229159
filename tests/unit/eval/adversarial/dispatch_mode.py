"""Pushes a TorchDispatchMode at import that turns isclose into all-True."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: TorchDispatchMode
# BASE: knowledge_base/samples/conv1d/seed.py
import torch


from torch.utils._python_dispatch import TorchDispatchMode


class _Liar(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if 'isclose' in str(func):
            return torch.ones_like(out)
        return out


_Liar().__enter__()
