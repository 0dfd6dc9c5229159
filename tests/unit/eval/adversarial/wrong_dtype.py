"""Returns float32 for float16 inputs."""
# EXPECT: incorrect
# TASK: conv1d
# REASON: dtype torch.float32
# BASE: knowledge_base/samples/conv1d/seed.py
# PATCH: y = torch.empty((B, COUT, L), device=x.device, dtype=x.dtype) => y = torch.empty((B, COUT, L), device=x.device, dtype=torch.float32)
