"""Honest but wrong: a stray constant added to every output. (Adding the bias twice, as this fixture did, left
outputs whose channel drew a near-zero bias within the tolerance: 83% mismatched for some secret seeds.)"""
# EXPECT: incorrect
# TASK: conv1d
# REASON: 100.00% mismatched
# BASE: knowledge_base/samples/conv1d/seed.py
# PATCH: acc += bias[None, :] => acc += bias[None, :] + 0.125
