"""The red-team suite: every hostile or broken candidate gets its non-ok verdict, every honest one passes."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from eval_helpers import HERE, SEED, candidate_source

from kernelevolve.core.types import EvalStatus
from kernelevolve.eval.evaluator import Evaluator

ADVERSARIAL = sorted((HERE / "adversarial").glob("*.py"))
HONEST = [(p, "scale_shift" if p.stem == "scale_shift" else "conv1d") for p in sorted((HERE / "honest").glob("*.py"))]


def _expectation(path: Path) -> tuple[EvalStatus, str]:
    text = path.read_text()
    status = re.search(r"^# EXPECT: (\w+)$", text, re.MULTILINE)
    task = re.search(r"^# TASK: (\w+)$", text, re.MULTILINE)
    assert status and task, f"{path.name}: needs '# EXPECT: <status>' and '# TASK: <task>' lines"
    return EvalStatus(status.group(1)), task.group(1)


def _max_abs_err(path: Path) -> float | None:
    """Returns the `# MAX_ABS_ERR:` bound of a near-miss fixture (caught by the tolerance, not by garbage)."""
    found = re.search(r"^# MAX_ABS_ERR: (\S+)$", path.read_text(), re.MULTILINE)
    return float(found.group(1)) if found else None


def _expected_reason(path: Path) -> str:
    found = re.search(r"^# REASON: (.+)$", path.read_text(), re.MULTILINE)
    assert found, f"{path.name}: needs a '# REASON: <substring of the verdict's reason>' line"
    return found.group(1).strip()


@pytest.mark.parametrize("path", ADVERSARIAL, ids=lambda p: p.stem)
def test_a_patch_fixture_assembles_into_its_base_plus_the_exploit(path: Path):
    """Every PATCH target is in its base once (else LookupError); the result parses unless it must not."""
    source = candidate_source(path)
    assert _expected_reason(path)
    if "# BASE:" in path.read_text():
        assert source.endswith(path.read_text()) and len(source) > 2 * len(path.read_text())
    if _expectation(path)[0] is not EvalStatus.COMPILE_ERROR:
        compile(source, path.name, "exec")


def test_the_suite_is_big_enough():
    assert len(ADVERSARIAL) >= 15
    assert {_expectation(p)[0] for p in ADVERSARIAL} >= {EvalStatus.CRASHED, EvalStatus.TIMEOUT,
                                                         EvalStatus.INCORRECT, EvalStatus.INTEGRITY_VIOLATION,
                                                         EvalStatus.COMPILE_ERROR, EvalStatus.RUNTIME_ERROR}


@pytest.mark.slow
@pytest.mark.parametrize("path", ADVERSARIAL, ids=lambda p: p.stem)
def test_hostile_candidate_gets_its_verdict(path: Path, evaluators: dict[str, Evaluator]):
    expected, task = _expectation(path)
    evaluator = evaluators["conv1d_short_timeout" if expected is EvalStatus.TIMEOUT else task]
    result = evaluator.evaluate(candidate_source(path), candidate_id=path.stem)
    assert result.status is expected, f"{path.stem}: {result.status} ({result.reason})\n{result.error}"
    assert result.fitness == 0.0 and not result.ok
    assert _expected_reason(path).lower() in result.reason.lower(), f"{path.stem}: {result.reason}"
    if (bound := _max_abs_err(path)) is not None:
        assert result.mismatch is not None and 0 < result.mismatch.max_abs_err < bound, result.mismatch


@pytest.mark.slow
@pytest.mark.parametrize(("path", "task"), [(SEED, "conv1d"), *HONEST], ids=lambda p: getattr(p, "stem", p))
def test_honest_candidate_passes(path: Path, task: str, evaluators: dict[str, Evaluator]):
    result = evaluators[task].evaluate(path.read_text(), candidate_id=path.stem)
    assert result.status is EvalStatus.OK, f"{path.stem}: {result.reason}\n{result.error}"
    assert result.fitness > 0
    assert result.metrics["triton_launches"] >= 1
    assert [t.shape for t in result.timings] == list(evaluators[task].shapes)
    assert all("interpreter" in (t.baseline_name or "") for t in result.timings)


@pytest.mark.slow
def test_evaluator_keeps_serving_after_hostile_candidates(evaluators: dict[str, Evaluator]):
    evaluator = evaluators["conv1d"]
    for name in ("segfault", "os_exit_in_forward", "fork"):
        assert not evaluator.evaluate(candidate_source(HERE / "adversarial" / f"{name}.py"), candidate_id=name).ok
    assert evaluator.evaluate(SEED.read_text(), candidate_id="seed-after").ok


CONTAMINATING = ("patch_verdict_class", "patch_json_dumps", "frame_walk_forge", "interval_timer", "parent_environ")


@pytest.mark.slow
@pytest.mark.parametrize("name", CONTAMINATING)
def test_an_attack_leaves_nothing_behind_for_the_next_candidate(name: str, evaluators: dict[str, Evaluator]):
    evaluator = evaluators["conv1d"]
    hostile = evaluator.evaluate(candidate_source(HERE / "adversarial" / f"{name}.py"), candidate_id=name)
    assert hostile.status is EvalStatus.INTEGRITY_VIOLATION, f"{name}: {hostile.status} ({hostile.reason})"
    assert "environ=" not in (hostile.error or "") and "leaked" not in hostile.reason
    honest = evaluator.evaluate(SEED.read_text(), candidate_id=f"seed-after-{name}")
    assert honest.status is EvalStatus.OK, f"after {name}: {honest.reason}\n{honest.error}"
    assert 0.0 < honest.fitness < 10.0  # interpreter wall clock vs eager: far below 1, never a forged 555/777/1000
    assert honest.metrics["triton_launches"] >= 1


def test_importing_a_library_module_without_a_pyc_is_not_an_attack(evaluators: dict[str, Evaluator]):
    """The H100 host's site-packages is read-only and lacks some .pyc files (triton/language/extra/libdevice.py), so a
    candidate's import compiles the module's own source under a library file's name. That is an import, not code
    passed off as the library's; compiling other code under the same name is still refused."""
    import triton

    site = Path(triton.__file__).resolve().parents[1]  # a trusted root: where the candidate's libraries live
    module = f"kernelevolve_probe_{uuid.uuid4().hex[:12]}"
    path = site / f"{module}.py"
    path.write_text("SCALE = 1\n")  # workers write no .pyc (PYTHONDONTWRITEBYTECODE), so each import compiles it
    honest = (HERE / "honest" / "scale_shift.py").read_text()
    forged = f"compile('x = 1', {str(path)!r}, 'exec')\n"
    try:
        result = evaluators["scale_shift"].evaluate(f"import {module}\n{honest}", candidate_id="import_no_pyc")
        assert result.status is EvalStatus.OK, f"{result.status}: {result.reason}\n{result.error}"
        result = evaluators["scale_shift"].evaluate(f"{forged}{honest}", candidate_id="forge_library_name")
        assert result.status is EvalStatus.INTEGRITY_VIOLATION, result.reason
        assert "compiling code under a harness file name" in result.reason
    finally:
        path.unlink()
