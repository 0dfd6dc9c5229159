"""Seed kernels for any task: a hand-written sample, torch.compile's own Triton (captured and wrapped), or an LLM draft."""
