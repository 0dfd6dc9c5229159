"""The referee: a process beside each worker (`python -m kernelevolve.eval.referee.main`) that builds the same
cases with their references and judges the outputs the worker exports. It never imports candidate code, nor
the worker's package (tests/test_style.py checks this).
"""
