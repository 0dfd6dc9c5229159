"""Computes an fp32 task at bf16 precision (each result's mantissa cut to bf16's 7 bits): a near miss that only
the task's fp32 tolerance catches. (Real bf16 arithmetic is no test of that under the Triton interpreter, whose
bf16 math returns garbage far outside any tolerance.)"""
# EXPECT: incorrect
# TASK: scale_shift
# REASON: atol 1e-05 rtol 1.3e-06
# MAX_ABS_ERR: 0.05
# BASE: tests/unit/eval/honest/scale_shift.py
# PATCH: tl.store(y_ptr + offs, x * w + b, mask=mask) => tl.store(y_ptr + offs, ((x * w + b).to(tl.int32, bitcast=True) & -65536).to(tl.float32, bitcast=True), mask=mask)
