"""Honest but wrong: the halo mask is missing (reads neighbours instead of zero padding)."""
# EXPECT: incorrect
# TASK: conv1d
# REASON: first bad at [0, 0, 0]
# BASE: knowledge_base/samples/conv1d/seed.py
# PATCH: pos_ok = mask_m & (pos >= 0) & (pos < L) => pos_ok = mask_m
