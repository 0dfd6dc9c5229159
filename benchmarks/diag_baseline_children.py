"""Starts one judge worker with eval.baseline_compile_procs child processes and prints where its start went and
the end of its log (the children's lines and any failure): `python3 benchmarks/diag_baseline_children.py TASK`."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernelevolve.eval.config import EvalConfig  # noqa: E402
from kernelevolve.eval.evaluator import Evaluator  # noqa: E402
from kernelevolve.tasks import load_task  # noqa: E402


def main() -> None:
    task = load_task(sys.argv[1] if len(sys.argv) > 1 else "rmsnorm_bwd")
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    with tempfile.TemporaryDirectory() as tmp, Evaluator(
            task, platform="cuda", config=EvalConfig(baseline_compile_procs=procs, compile_cache=""),
            workdir=Path(tmp)) as evaluator:
        start = time.perf_counter()
        worker, _ = evaluator.start()
        print(f"worker ready in {time.perf_counter() - start:.1f} s; start stages {worker.info.start}")
        print(worker.log_tail(6000))


if __name__ == "__main__":
    main()
