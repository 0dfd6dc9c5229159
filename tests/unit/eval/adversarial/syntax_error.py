"""Does not parse."""
# EXPECT: compile_error
# TASK: conv1d
# REASON: SyntaxError
# BASE: knowledge_base/samples/conv1d/seed.py
# PATCH: def conv1d(x: torch.Tensor => def conv1d(:x: torch.Tensor
