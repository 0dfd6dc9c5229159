"""Uses |x|: right on the task's non-negative inputs, wrong on the sign-flipped set."""
# EXPECT: incorrect
# TASK: scale_shift
# REASON: (signflip)
# BASE: tests/unit/eval/honest/scale_shift.py
# PATCH: x = tl.load(x_ptr + offs, mask=mask) => x = tl.abs(tl.load(x_ptr + offs, mask=mask))
