"""The hand-over of baselines compiled ahead of a starting worker (eval/baseline_ahead.py starts the children,
eval/worker/baseline_child.py is one, eval/worker/job.py warm_baselines waits for them): a `go` line on the child's
stdin once the judge holds the device gate, and one mark file a shape in the worker's dir once that shape's
baseline is in the worker's cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

AHEAD_DIR = ".baselines_ahead"  # in the worker's dir: one mark file a shape compiled ahead
MARKS_ENV = "KERNELEVOLVE_AHEAD_MARKS"  # set for a child: where it marks its shapes (and it waits for GO)
GO = b"go\n"


def mark_path(marks: Path, shape: str) -> Path:
    """Returns the mark file of one shape (named by a digest: a shape name is any text)."""
    return marks / f"{hashlib.sha256(shape.encode()).hexdigest()[:24]}.done"
