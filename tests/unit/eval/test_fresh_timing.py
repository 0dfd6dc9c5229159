"""Timed calls run on inputs no earlier call saw: a candidate that caches outputs by input content gains nothing
while timed (the judge's former known gap), and the referee checks timed outputs against inputs it rebuilds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from eval_helpers import HERE, candidate_source

from kernelevolve.core.types import EvalStatus
from kernelevolve.eval.evaluator import Evaluator

CACHER = HERE / "timing_cheats" / "cache_by_content.py"


def _counts(workdir: Path) -> dict[str, int]:
    """Returns the cacher's call and hit counts from the files it wrote in its private HOME (under workdir)."""
    found = {}
    for name in ("calls", "hits"):
        files = list(workdir.rglob(name))
        found[name] = sum(len(f.read_text().split()) for f in files)
    return found


_CONTROL = """
import importlib.util, sys, torch
from kernelevolve.tasks.loader import load_task
spec = importlib.util.spec_from_file_location("cacher_control", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
task = load_task("conv1d")
inputs = task.make_inputs("tail_fp16", 5)
model = module.ModelNew(*task.make_init_inputs("tail_fp16"))
first, again = model(*inputs), model(*inputs)
model(*task.make_inputs("tail_fp16", 6))
assert torch.equal(first, again)
"""


def test_the_cacher_hits_its_cache_on_inputs_it_saw(tmp_path):
    """The control: run on repeated inputs, the fixture's cache does hit (so 0 hits under the judge means the
    judge never repeated inputs, not that the fixture cannot cache). In a child with Triton's interpreter on
    (this process may have imported triton without it)."""
    path = tmp_path / "cacher.py"  # a file: the Triton interpreter reads a kernel's source from its module's file
    path.write_text(candidate_source(CACHER))
    env = {**os.environ, "TRITON_INTERPRET": "1", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", _CONTROL, str(path)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _counts(tmp_path) == {"calls": 3, "hits": 1}


@pytest.mark.slow
@pytest.mark.parametrize(("task", "cacher"), [("conv1d", CACHER),  # inputs built on the device
                                              ("scale_shift", HERE / "timing_cheats" / "cache_by_content_scale_shift.py")])
def test_a_candidate_caching_by_input_content_never_hits_while_timed(task: str, cacher: Path,
                                                                      evaluators: dict[str, Evaluator]):
    evaluator = evaluators[task]
    result = evaluator.evaluate(candidate_source(cacher), candidate_id=cacher.stem)
    counts = _counts(evaluator.workdir)  # before the worker closes: its private dir goes with it
    assert result.status is EvalStatus.OK, f"{result.reason}\n{result.error}"
    checked = int(result.metrics["cases_checked"])
    assert counts["calls"] > checked  # it was timed: calls beyond the checked cases
    assert counts["hits"] == 0, counts
