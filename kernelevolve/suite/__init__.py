"""KernelBench-style suites: one search per problem file, resumable, scored with correct rate and fast_p."""
