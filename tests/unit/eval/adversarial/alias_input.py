"""Writes the result into its input x and returns x."""
# EXPECT: integrity_violation
# TASK: scale_shift
# REASON: aliases an input
# BASE: tests/unit/eval/honest/scale_shift.py
# PATCH: y = torch.empty_like(x) => y = x
