"""Optional hardware profiling after a verdict: run.py (evaluator side) starts main.py (the profiled child,
which runs the candidate) under Nsight Compute, Proton or rocprofv3; parsers.py reads the tools' output and
commands.py is the `kernelevolve profile` CLI.
"""
