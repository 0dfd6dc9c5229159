"""A quick check of a wrapped seed in this process: the reference and the seed on the same inputs.

This is not the judge (no sandbox, one seed, no timing); it tells the capture tool at once whether a
wrapping is right, before a search spends a judge's time on it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch

from kernelevolve.tasks import Task


def check_seed(task: Task, seed_path: Path, device: str | None = None) -> dict[str, Any]:
    """Returns {"correct": bool, "max_abs_err": float, "launches": int} for the seed on the task's first shape."""
    from triton import knobs

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    spec = importlib.util.spec_from_file_location(f"kernelevolve_seed_{task.name}", seed_path)
    assert spec is not None and spec.loader is not None  # a .py path always has a loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    results = []
    for shape in sorted(task.all_shape_names()):
        inputs = task.make_inputs(shape, seed=1, device=device)
        init = task.make_init_inputs(shape)
        torch.manual_seed(0)
        reference = task.model_class(*init).to(device).eval()
        torch.manual_seed(0)
        candidate = module.ModelNew(*init).to(device).eval()
        launches = [0]

        def count(_: Any, launches: list[int] = launches) -> None:
            launches[0] += 1

        with torch.no_grad():
            expected = reference(*inputs)
            knobs.runtime.launch_enter_hook.add(count)
            try:
                got = candidate(*inputs)
            finally:
                knobs.runtime.launch_enter_hook.remove(count)
        want = expected if isinstance(expected, tuple | list) else [expected]
        have = got if isinstance(got, tuple | list) else [got]
        err = max(float((w.float() - h.float()).abs().max()) for w, h in zip(want, have, strict=True))
        ok = all(torch.allclose(w, h, atol=1e-2, rtol=1e-2) for w, h in zip(want, have, strict=True))
        results.append((ok, err, launches[0]))
    return {"correct": all(r[0] for r in results), "max_abs_err": max(r[1] for r in results),
            "launches": min(r[2] for r in results)}
