"""A starting worker's helper process: compiles the torch.compile baselines of some timed shapes, then exits.

    python -m kernelevolve.eval.worker.baseline_child TASK_PATH PLATFORM BASELINE SHAPE [SHAPE ...]

Started only by eval/baseline_ahead.py, beside the worker, with the worker's environment (its private Inductor and
Triton caches, its device; unjailed: it runs no candidate code): what it compiles lands in those caches, and the
worker then loads each shape's baseline from there. It builds each baseline exactly as the worker does
(job.compile_baseline_of), so the worker's compile finds the same cache entries.

With $KERNELEVOLVE_AHEAD_MARKS set (a dir), it imports everything a compile needs, then waits for a `go` line on
stdin before it runs anything on the device (anything else, or end of input, stops it), and marks each shape done in that
dir (wire/ahead.py mark_path) as soon as its baseline is in the cache, so the worker can load it while the rest compile.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import types
from pathlib import Path

from kernelevolve.eval.wire.ahead import GO, MARKS_ENV, mark_path

PARENT_POLL_S = 1.0


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        sys.stderr.write("usage: python -m kernelevolve.eval.worker.baseline_child TASK_PATH PLATFORM BASELINE "
                         "SHAPE...\n")
        return 2
    from kernelevolve.eval.platforms import get_platform
    from kernelevolve.eval.worker.job import compile_baseline_of
    from kernelevolve.tasks.loader import load_task

    task_path, platform_name, baseline, *shapes = argv
    ctx = types.SimpleNamespace(task=load_task(task_path), platform=get_platform(platform_name), compiled={})
    ctx.platform.device()
    marks = os.environ.get(MARKS_ENV)
    if marks:
        if baseline == "compile":
            import torch._inductor.compile_fx  # noqa: F401 - ~6 s on an H100 host: imported while waiting for go
        sys.stderr.write("baseline_child: waiting for go\n")
        sys.stderr.flush()
        line = sys.stdin.buffer.readline()
        if line != GO:
            sys.stderr.write(f"baseline_child: stopped before compiling (stdin said {line[:20]!r})\n")
            return 0
        _exit_with_parent()
    for shape in shapes:
        start = time.perf_counter()
        compile_baseline_of(ctx, shape, baseline)
        if marks:
            mark_path(Path(marks), shape).touch()
        sys.stderr.write(f"baseline_child: {baseline} baseline of shape {shape} ready in "
                         f"{time.perf_counter() - start:.1f} s\n")
    return 0


def _exit_with_parent() -> None:
    """Ends this process when the evaluator that started it is gone (killed -9: no close() reaps the children):
    the children run in sessions of their own, so nothing else would stop a compile from running on."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        sys.stderr.write("baseline_child: the evaluator is gone, stopping\n")
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
