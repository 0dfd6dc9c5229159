"""The worker: the sandboxed process that imports and runs candidate code (`python -m kernelevolve.eval.worker.main`).

Nothing it reports is trusted: its outputs are judged by the referee, its verdict's integrity is guarded by
guard/. It never imports the evaluator side (tests/test_style.py checks this), and this file imports nothing:
`python -m` runs it before main.py, whose start-up order is the trust boundary.
"""
