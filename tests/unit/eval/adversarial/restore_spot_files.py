"""Right when checked, wrong when timed; restores checked outputs in spot files."""
# EXPECT: incorrect
# TASK: scale_shift
# REASON: last timed rep
# BASE: tests/unit/eval/honest/scale_shift.py
import os

S = {}


class ModelNew(nn.Module):
    def forward(self, x, w, b):
        y, n, k = torch.empty_like(x), x.numel(), _scale_shift_kernel
        if torch.are_deterministic_algorithms_enabled():
            S.update({f: open("exchange/" + f, "rb").read() for f in os.listdir("exchange")})
        elif n == 37:
            k[(1,)](x, w, b, y, 1, BLOCK=128)
            return y.fill_(1e3)
        else:
            [open("exchange/" + f, "wb").write(d) for f, d in S.items() if len(d) == 148]
        k[(triton.cdiv(n, 128),)](x, w, b, y, n, BLOCK=128)
        return y
