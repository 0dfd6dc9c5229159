"""The judge: sandboxed correctness, integrity checks and timing of candidate kernels."""
