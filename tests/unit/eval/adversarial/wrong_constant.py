"""Honest but wrong: bias added twice."""
# EXPECT: incorrect
# TASK: conv1d
# REASON: 100.00% mismatched
# BASE: knowledge_base/samples/conv1d/seed.py
# PATCH: acc += bias[None, :] => acc += 2.0 * bias[None, :]
