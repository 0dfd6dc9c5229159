"""Where a fresh judge process's start-up goes before it compiles anything: `python3 benchmarks/diag_process_start.py`.

Each step runs in a new interpreter (as a worker, referee or baseline child starts), timed from the interpreter's
own start: Python itself, `import torch`, CUDA's context, Dynamo and Inductor, Triton, the worker's harness, and
a first tiny torch.compile. Then the slowest imports by `python -X importtime`. Prints one line a step.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = """
import time, json; t = {}; s = time.perf_counter()
import torch; t["import_torch"] = time.perf_counter() - s; s = time.perf_counter()
torch.zeros(1, device="cuda"); torch.cuda.synchronize(); t["cuda_context"] = time.perf_counter() - s; s = time.perf_counter()
import torch._dynamo, torch._inductor.compile_fx; t["import_dynamo_inductor"] = time.perf_counter() - s; s = time.perf_counter()
import triton, triton.language; t["import_triton"] = time.perf_counter() - s; s = time.perf_counter()
from kernelevolve.eval.worker import job; t["import_harness"] = time.perf_counter() - s; s = time.perf_counter()
f = torch.compile(lambda x: x * 2 + 1, dynamic=False); f(torch.ones(8, device="cuda")); torch.cuda.synchronize()
t["first_compile"] = time.perf_counter() - s
print(json.dumps(t))
"""


def main() -> None:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(f"python -c pass: {time.perf_counter() - start:.2f} s")
    for attempt in (1, 2):  # the second finds the OS's file cache warm
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", STEPS], check=True, capture_output=True, text=True, cwd=ROOT)
        steps = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"attempt {attempt}: total {time.perf_counter() - start:.2f} s; "
              + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import torch, torch._inductor.compile_fx, triton; "
                          "from kernelevolve.eval.worker import job"], capture_output=True, text=True, cwd=ROOT)
    rows = []
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), len(m.group(3)), m.group(4)))
    print("slowest top-level-ish imports (cumulative s, depth <= 3):")
    for cum, depth, name in sorted((r for r in rows if r[1] <= 5), reverse=True)[:20]:
        print(f"  {cum / 1e6:6.2f}  {'.' * (depth // 2)}{name}")


if __name__ == "__main__":
    main()
