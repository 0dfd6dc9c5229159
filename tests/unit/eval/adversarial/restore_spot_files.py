"""Wrong when timed; writes checked outputs back into the sealed output memfds."""
# EXPECT: incorrect
# TASK: scale_shift
# REASON: timed calls
# BASE: tests/unit/eval/honest/scale_shift.py
import contextlib as c
import os

S, P = {}, "/proc/self/fd/"


class ModelNew(nn.Module):
    def forward(self, x, w, b):
        y, n, d = torch.empty_like(x), x.numel(), torch.are_deterministic_algorithms_enabled()
        for f in os.listdir(P):
            with c.suppress(OSError):
                if d:
                    S[f] = os.pread(int(f), 1 << 20, 0)
                elif f in S:
                    os.pwrite(int(f), S[f], 0)
        _scale_shift_kernel[(3,)](x, w, b, y, n if d or n != 37 else 1, BLOCK=128)
        return y
