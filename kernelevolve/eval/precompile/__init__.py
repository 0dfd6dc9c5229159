"""Compile-only workers (`python -m kernelevolve.eval.precompile.main`): sandboxed like the worker, they run
candidate code only to fill the shared Triton cache ahead of the device; the pool that feeds them, on the
evaluator side, is kernelevolve/eval/precompile_pool.py. Their report is advice, never a verdict.
"""
