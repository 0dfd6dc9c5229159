"""The judge on a real GPU: honest kernels pass with device-time metrics; GPU-only cheats are caught."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernelevolve.core.types import EvalStatus
from kernelevolve.eval.config import BaselineKind, EvalConfig
from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.eval.platforms import resolve_platform
from kernelevolve.tasks.loader import load_task

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[3]
SCALE_SHIFT = ROOT / "tests" / "unit" / "eval" / "tasks" / "scale_shift.py"
CANDIDATES = sorted((Path(__file__).parent / "candidates").glob("*.py"))
CONFIG = EvalConfig(seeds=2, timeout_s=120.0, baseline=BaselineKind.eager, warmup_ms=5, rep_ms=20)


@pytest.fixture(scope="module")
def gpu_evaluator(tmp_path_factory: pytest.TempPathFactory):
    with Evaluator(load_task(str(SCALE_SHIFT)), platform=resolve_platform("auto"), config=CONFIG,
                   workdir=tmp_path_factory.mktemp("gpu_eval")) as evaluator:
        yield evaluator


@pytest.mark.parametrize("path", CANDIDATES, ids=lambda p: p.stem)
def test_gpu_candidate_gets_its_verdict(path: Path, gpu_evaluator: Evaluator):
    expected = EvalStatus(re.search(r"^# EXPECT: (\w+)$", path.read_text(), re.MULTILINE).group(1))
    result = gpu_evaluator.evaluate(path.read_text(), candidate_id=path.stem)
    assert result.status is expected, f"{path.stem}: {result.status} {result.reason}\n{result.error}"
    if expected is not EvalStatus.OK:  # caught for its exploit, not for an accident of its construction
        reason = re.search(r"^# REASON: (.+)$", path.read_text(), re.MULTILINE)
        assert reason, f"{path.stem}: a hostile candidate needs a '# REASON: <substring of the verdict's reason>' line"
        assert reason.group(1).strip().lower() in result.reason.lower(), f"{path.stem}: {result.reason}"


def test_conv1d_seed_passes_with_device_metrics(tmp_path):
    seed = (ROOT / "knowledge_base" / "samples" / "conv1d" / "seed.py").read_text()
    config = EvalConfig(seeds=2, timeout_s=300.0, warmup_ms=10, rep_ms=50)
    with Evaluator(load_task("conv1d"), platform=resolve_platform("auto"), config=config, workdir=tmp_path) as ev:
        result = ev.evaluate(seed, candidate_id="seed")
    assert result.ok, f"{result.reason}\n{result.error}"
    assert result.fitness > 0 and result.metrics["triton_time_fraction"] > 0.5
    assert all(t.baseline_name and "events" in t.baseline_name for t in result.timings)


HONEST = (ROOT / "tests" / "unit" / "eval" / "honest" / "scale_shift.py").read_text()
OFF_BY_A_BIT = HONEST.replace("x * w + b, mask=mask)", "x * w + b + 1e-3, mask=mask)")


@pytest.mark.parametrize("transport", ["auto", "file"])
def test_the_referee_judges_outputs_by_device_handle_and_by_file_alike(transport: str, tmp_path):
    config = EvalConfig(seeds=2, timeout_s=120.0, baseline=BaselineKind.eager, warmup_ms=5, rep_ms=20,
                        output_transport=transport)
    with Evaluator(load_task(str(SCALE_SHIFT)), platform=resolve_platform("auto"), config=config,
                   workdir=tmp_path) as ev:
        honest = ev.evaluate(HONEST, candidate_id="honest")
        wrong = ev.evaluate(OFF_BY_A_BIT, candidate_id="wrong")
        assert ev.referee_starts == 1
    assert honest.ok, f"{honest.reason}\n{honest.error}"
    assert wrong.status is EvalStatus.INCORRECT and wrong.mismatch is not None
    assert wrong.mismatch.max_abs_err == pytest.approx(1e-3, rel=0.05) and wrong.mismatch.frac_mismatched > 0.3


def test_a_suspicious_speedup_is_re_measured_on_fresh_inputs(tmp_path):
    config = EvalConfig(seeds=2, timeout_s=120.0, baseline=BaselineKind.eager, warmup_ms=5, rep_ms=20,
                        suspicious_speedup=0.0)  # every correct candidate counts as suspicious
    with Evaluator(load_task(str(SCALE_SHIFT)), platform=resolve_platform("auto"), config=config,
                   workdir=tmp_path) as ev:
        result = ev.evaluate(HONEST, candidate_id="honest")
    assert result.ok, f"{result.reason}\n{result.error}"
    assert result.metrics["flagged_for_review"] == 1.0 and result.metrics["remeasured_fitness"] > 0
    assert result.fitness <= result.metrics["remeasured_fitness"] + 1e-12
    assert "re-measured on fresh inputs" in result.reason
