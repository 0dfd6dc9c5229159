"""Tells timed calls from checked ones (deterministic algorithms are on only while checked) and, while timed,
hands back its last output again, launching nothing (attack d)."""
# EXPECT: integrity_violation
# TASK: scale_shift
# REASON: launched no Triton kernel
# BASE: tests/unit/eval/honest/scale_shift.py


class ModelNew(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self._last = None

    def forward(self, x, w, b):
        if self._last is not None and not torch.are_deterministic_algorithms_enabled():
            return self._last.clone()
        y = torch.empty_like(x)
        _scale_shift_kernel[(triton.cdiv(x.numel(), 128),)](x, w, b, y, x.numel(), BLOCK=128)
        self._last = y.clone()
        return y
