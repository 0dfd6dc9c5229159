"""Runs a conv1d seed under the interpreter with a launcher that answers OutOfResources (the device's answer for a
program that needs more shared memory than an SM has) until the seed has stepped down far enough.

Used by the seeds' step-down tests (test_seeds.py, test_seed_wstat.py): each names the launch keywords to record,
the condition under which a launch does not fit, and the seed's settings to start from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r'''
import importlib.util, json, os, sys
os.environ["TRITON_INTERPRET"] = "1"
import torch
import torch.nn.functional as F
from triton.runtime.errors import OutOfResources
spec = importlib.util.spec_from_file_location("seed", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
keys, too_big, settings = json.loads(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
real, tried = m._conv1d_kernel, []

class TooBig:
    def __getitem__(self, grid):
        def launch(*args, **kw):
            tried.append([kw[k] for k in keys])
            if eval(too_big, {}, kw):
                raise OutOfResources(300000, 232448, "shared memory")
            return real[grid](*args, **kw)
        return launch

m._conv1d_kernel = TooBig()
for name, value in settings.items():
    setattr(m, name, value)
g = torch.Generator().manual_seed(0)
x, w, b = torch.randn(2, 37, 19, generator=g), torch.randn(5, 37, 3, generator=g), torch.randn(5, generator=g)
y = m.ModelNew()(x, w, b)
first = list(tried)
y2 = m.ModelNew()(x, w, b)
ref = F.conv1d(x.double(), w.double(), b.double(), padding=1).float()
print(json.dumps({"tried": first, "again": tried[len(first):], "err": (y - ref).abs().max().item(),
                  "err2": (y2 - ref).abs().max().item()}))
'''


def step_down(seed: Path, keys: list[str], too_big: str, settings: dict[str, int], tmp_path: Path) -> dict:
    """Returns the launches' recorded keys on the first call ("tried") and on a second call of the same shape
    ("again"), and both calls' max abs error against F.conv1d in float64."""
    script = tmp_path / "step_down.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(seed), json.dumps(keys), too_big, json.dumps(settings)],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "TRITON_INTERPRET": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])
