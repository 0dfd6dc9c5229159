"""Paths and settings shared by the judge's tests (imported by name: the test dir is on sys.path)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kernelevolve.eval.config import EvalConfig

HERE = Path(__file__).parent
REPO = HERE.parents[2]
SEED = REPO / "knowledge_base" / "samples" / "conv1d" / "seed.py"
TASKS = {"conv1d": "conv1d", "scale_shift": str(HERE / "tasks" / "scale_shift.py")}

FAST = EvalConfig(seeds=2, timeout_s=40.0, memory_limit_gb=4.0, interpreter_reps=1, worker_start_timeout_s=60.0)
SHORT = dataclasses.replace(FAST, timeout_s=3.0)  # for candidates expected to hang
