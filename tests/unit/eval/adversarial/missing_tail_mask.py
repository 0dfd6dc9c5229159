"""Honest but wrong: the halo mask is missing (reads neighbours instead of zero padding)."""
# (The first bad index is not asserted: at [0, 0, 0] the kernel reads x[-1], outside the buffer, which the
# interpreter does not bounds-check, so that element is right whenever the byte before the buffer holds 0.)
# EXPECT: incorrect
# TASK: conv1d
# REASON: first bad at
# BASE: knowledge_base/samples/conv1d/seed.py
# PATCH: pos_ok = mask_m & (pos >= 0) & (pos < L) => pos_ok = mask_m
