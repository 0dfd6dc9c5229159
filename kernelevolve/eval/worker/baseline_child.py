"""A starting worker's helper process: compiles the torch.compile baselines of some timed shapes, then exits.

    python -m kernelevolve.eval.worker.baseline_child TASK_PATH PLATFORM BASELINE SHAPE [SHAPE ...]

Started only by eval/baseline_ahead.py, before the worker has run any candidate, with the worker's environment
(its private Inductor and Triton caches, its device; unjailed: it runs no candidate code): what it compiles lands
in those caches, and the worker then loads each shape's baseline from there. It builds each baseline exactly as the
worker does (job.compile_baseline_of), so the worker's compile finds the same cache entries.
"""

from __future__ import annotations

import sys
import time
import types


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
    for shape in shapes:
        start = time.perf_counter()
        compile_baseline_of(ctx, shape, baseline)
        sys.stderr.write(f"baseline_child: {baseline} baseline of shape {shape} ready in "
                         f"{time.perf_counter() - start:.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
