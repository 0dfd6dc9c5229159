"""On a real GPU, a compile-only worker fills the Triton cache so the judge's worker compiles nothing of the
candidate's own: the shared entries holding the candidate's kernel (bound to its source, copied into the judge's
private cache) do not grow during the judge's evaluation (the judge publishes what it compiles there too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelevolve.eval.config import BaselineKind, EvalConfig
from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.eval.platforms import resolve_platform
from kernelevolve.eval.precompile_pool import Precompiler
from kernelevolve.eval.wire.messages import InputPlacement, PrecompileStatus
from kernelevolve.tasks.loader import load_task

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "knowledge_base" / "samples" / "conv1d" / "seed.py"
# eager baseline: no torch.compile, so no inductor-made Triton kernels land in the same cache dir
CONFIG = EvalConfig(seeds=2, timeout_s=300.0, baseline=BaselineKind.eager, warmup_ms=5, rep_ms=20,
                    precompile_workers=1, profile=False)


def _kernel_entries(workdir: Path, kernel: str) -> set[str]:
    """Returns the shared Triton cache entries (one dir per compiled kernel, under the candidate source's
    bound dir, kernelevolve/eval/kernel_cache.py) whose files name `kernel`."""
    root = workdir / "cache" / "by_source"
    if not root.exists():
        return set()
    return {p.parent.name for p in root.glob(f"*/*/{kernel}*.json")}


@pytest.mark.parametrize("inputs", list(InputPlacement))
def test_precompiled_seed_is_a_cache_hit_for_the_judge(tmp_path: Path, inputs: InputPlacement):
    task, platform = load_task("conv1d"), resolve_platform("auto")
    precompiler = Precompiler(task, platform=platform, config=CONFIG, workdir=tmp_path, workers=1, inputs=inputs)
    try:
        report = precompiler.submit("seed", SEED.read_text()).result(timeout=600)
    finally:
        precompiler.close()
    assert report.status is PrecompileStatus.OK, report.error
    before = _kernel_entries(tmp_path, "_conv1d_kernel")
    assert report.compiled >= 1 and len(before) >= report.compiled, (report, before)
    with Evaluator(task, platform=platform, config=CONFIG, workdir=tmp_path) as judge:
        verdict = judge.evaluate(SEED.read_text(), candidate_id="seed")
    assert verdict.ok, f"{verdict.reason}\n{verdict.error}"
    after = _kernel_entries(tmp_path, "_conv1d_kernel")
    assert after == before, f"the judge compiled {len(after - before)} kernel variant(s) the precompile missed"
