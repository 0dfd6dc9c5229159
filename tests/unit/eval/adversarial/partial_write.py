"""Launches one program too few along the rows, so the output's last rows keep whatever torch.empty gave:
the harness poisons the allocator with NaN, and the referee finds the unwritten tail."""
# EXPECT: incorrect
# TASK: conv1d
# REASON: got nan
# BASE: knowledge_base/samples/conv1d/seed.py
# PATCH: grid = (triton.cdiv(B * L, BLOCK_M), triton.cdiv(COUT, BLOCK_N)) => grid = (max(triton.cdiv(B * L, BLOCK_M) - 1, 1), triton.cdiv(COUT, BLOCK_N))
