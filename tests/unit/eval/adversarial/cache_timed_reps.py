"""Caches by input pointer + sums; a hit launches nothing. Host-built inputs: timed calls revisit checked cases."""
# EXPECT: integrity_violation
# TASK: scale_shift
# REASON: launched no Triton kernel
# BASE: tests/unit/eval/honest/scale_shift.py


class ModelNew(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self._cache = {}

    def forward(self, x, w, b):
        key = (x.data_ptr(), float(x.sum()), float(w.sum()), float(b.sum()))
        if key in self._cache:
            return self._cache[key].clone()
        y = torch.empty_like(x)
        _scale_shift_kernel[(triton.cdiv(x.numel(), 128),)](x, w, b, y, x.numel(), BLOCK=128)
        self._cache[key] = y.clone()
        return y
