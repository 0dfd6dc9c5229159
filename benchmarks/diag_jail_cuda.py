"""Which filesystem-jail layer keeps CUDA from starting on this machine, and why (issue 16's GPU check).

Run: `python3 benchmarks/diag_jail_cuda.py` on a CUDA machine. For each layer set (none, mount, landlock, both)
it starts a jailed child that initialises CUDA and draws from a device generator (what a judge worker does
first), and prints ok or the error; then the device nodes and mounts the jail sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernelevolve.eval import fsjail  # noqa: E402

PROBE = """
import os, torch
try:
    torch.cuda.init()
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(4, device="cuda", generator=g)
    print("ok", float(x.sum()))
except Exception as exc:
    print("FAIL", type(exc).__name__, str(exc).splitlines()[0])
"""


def main() -> int:
    support = fsjail.probe()
    print(support.describe())
    private = Path(tempfile.mkdtemp())
    writable = [private, Path("/dev/shm")]
    for layers in [(), (fsjail.Layer.mount,), (fsjail.Layer.landlock,), support.layers]:
        if any(layer not in support.layers for layer in layers):
            print(f"{layers}: not supported here")
            continue
        cmd = fsjail.wrap([sys.executable, "-c", PROBE], writable, layers) if layers else [sys.executable, "-c", PROBE]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=private)
        print(f"{','.join(layers) or 'no jail'}: rc {done.returncode} {done.stdout.strip()} {done.stderr.strip()[-600:]}")
    print("device nodes allowed:", fsjail._device_nodes())
    print("all /dev entries:", sorted(os.listdir("/dev")))
    mounts = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if " /dev" in line or "nvidia" in line]
    print("mounts under /dev or naming nvidia:\n" + "\n".join(mounts[:40]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
