"""Reads the evaluator's /proc/<ppid>/environ and leaks credentials through its error text (attack e)."""
# EXPECT: integrity_violation
# TASK: conv1d
# REASON: /proc
import os
_env = open(f"/proc/{os.getppid()}/environ", "rb").read().split(b"\0")
_key = [e for e in _env if e.startswith(b"OPENAI_API_KEY")]
raise ValueError(f"leaked {_key}")
