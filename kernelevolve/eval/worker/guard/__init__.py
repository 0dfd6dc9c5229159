"""The worker's guards: what the candidate does while it runs (audit hook, launch counter, monkeypatching of
the harness, process state left behind). Each turns a finding into an integrity verdict, never an exception
that escapes the worker.
"""
