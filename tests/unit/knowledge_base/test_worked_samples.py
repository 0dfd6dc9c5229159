"""The worked before/after samples are correct: both versions match PyTorch under the interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernelevolve.paths import knowledge_base_root


@pytest.mark.slow
def test_worked_samples_match_pytorch_under_interpreter() -> None:
    # A subprocess: TRITON_INTERPRET must be set before triton is first imported.
    script = Path(__file__).with_name("_check_worked_samples.py")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, str(script), str(knowledge_base_root() / "samples" / "worked")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "worked samples ok" in proc.stdout
