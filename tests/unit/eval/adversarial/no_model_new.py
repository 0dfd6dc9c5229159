"""Defines no ModelNew."""
# EXPECT: compile_error
# TASK: conv1d
# REASON: ModelNew
# BASE: knowledge_base/samples/conv1d/seed.py
# PATCH: class ModelNew(nn.Module): => class SomethingElse(nn.Module):
