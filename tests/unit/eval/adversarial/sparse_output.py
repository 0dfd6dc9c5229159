"""Correct values as a sparse tensor: the harness failed on it twice (SandboxError out of evaluate)."""
# EXPECT: incorrect
# TASK: scale_shift
# REASON: expected a dense
# BASE: tests/unit/eval/honest/scale_shift.py


class ModelNew(ModelNew):
    def forward(self, x, w, b):
        return super().forward(x, w, b).to_sparse()
