"""The content cacher of cache_by_content.py on scale_shift, whose inputs are built on the host: its timed calls
get fresh inputs too, so the cache never hits. Counts its calls and hits in its private HOME."""
# BASE: tests/unit/eval/honest/scale_shift.py
import os
from pathlib import Path

_COUNTS = Path(os.environ.get("HOME", "."))


def _count(name: str) -> None:
    with open(_COUNTS / name, "a") as f:
        f.write("1\n")


@triton.jit
def _copy_kernel(src_ptr, dst_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(dst_ptr + offs, tl.load(src_ptr + offs, mask=mask), mask=mask)


class ModelNew(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self._cache = {}

    def forward(self, x, w, b):
        _count("calls")
        key = tuple(float((t.double() * torch.arange(1, t.numel() + 1, dtype=torch.float64)).sum()) for t in (x, w, b))
        if key in self._cache:
            _count("hits")
            cached = self._cache[key]
            y = torch.empty_like(cached)
            _copy_kernel[(triton.cdiv(y.numel(), 128),)](cached, y, y.numel(), BLOCK=128)
            return y
        y = torch.empty_like(x)
        _scale_shift_kernel[(triton.cdiv(x.numel(), 128),)](x, w, b, y, x.numel(), BLOCK=128)
        self._cache[key] = y.clone()
        return y
