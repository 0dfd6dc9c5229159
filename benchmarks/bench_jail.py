"""What the filesystem jail costs a process start: `python -c pass` started plain and through each layer.

    python benchmarks/bench_jail.py [--runs 30]

Prints, per variant (none, landlock, mount, mount+landlock, whichever the machine supports), the median
and the interquartile range of the wall time from spawn to exit, milliseconds. A worker's own start-up
(importing torch and triton, seconds) comes on top of either; the difference is the jail's price.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernelevolve.eval import fsjail  # noqa: E402


def _time(cmd: list[str], cwd: str, runs: int) -> dict[str, float]:
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True)
        took.append((time.perf_counter() - start) * 1e3)
    q = statistics.quantiles(took, n=4)
    return {"median_ms": round(statistics.median(took), 1), "iqr_ms": round(q[2] - q[0], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    support = fsjail.probe()
    variants = {"none": ()} | {"+".join(v): v for v in
                               [(fsjail.Layer.landlock,), (fsjail.Layer.mount,), support.layers]
                               if v and set(v) <= set(support.layers)}
    with tempfile.TemporaryDirectory() as private:
        rows = {name: _time(fsjail.wrap([sys.executable, "-c", "pass"], [Path(private)], layers), private, args.runs)
                for name, layers in variants.items()}
    print(json.dumps({"support": support.describe(), "runs": args.runs, **rows}))  # noqa: T201 - a benchmark's report
    return 0


if __name__ == "__main__":
    sys.exit(main())
