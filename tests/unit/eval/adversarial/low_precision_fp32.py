"""Computes an fp32 task in bf16."""
# EXPECT: incorrect
# TASK: scale_shift
# REASON: mismatched
# BASE: tests/unit/eval/honest/scale_shift.py
# PATCH: tl.store(y_ptr + offs, x * w + b, mask=mask) => tl.store(y_ptr + offs, (x.to(tl.bfloat16) * w.to(tl.bfloat16) + b.to(tl.bfloat16)).to(tl.float32), mask=mask)
