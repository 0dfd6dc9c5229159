"""Evaluator-level behaviour: secrets never reach candidates, and many failures never stop the judge."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import pytest
from eval_helpers import FAST, HERE

from kernelevolve.core.types import EvalResult, EvalStatus
from kernelevolve.eval import sandbox
from kernelevolve.eval.config import EvalConfig, ShapeSetChoice
from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.eval.platforms import get_platform
from kernelevolve.eval.protocols import Platform
from kernelevolve.eval.redact import credential_values, redact
from kernelevolve.eval.sandbox import scrubbed_env
from kernelevolve.tasks.loader import load_task

HONEST = (HERE / "honest" / "scale_shift.py").read_text()
PROBE = HONEST.replace("class ModelNew(nn.Module):", '''import os as _os

_path = {path!r}
with open(_path, "w") as _f:
    _f.write(repr({{k: v for k, v in _os.environ.items() if "KEY" in k or "TOKEN" in k or "SECRET" in k}}))
    _f.write("\\n" + _os.environ.get("OPENAI_API_KEY", "ABSENT"))


class ModelNew(nn.Module):''')


def test_scrubbed_env_keeps_the_allow_list_and_drops_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws")
    monkeypatch.setenv("HF_TOKEN", "hf")
    monkeypatch.setenv("SOME_UNLISTED", "x")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    env = scrubbed_env({"TRITON_INTERPRET": "1"}, tmp_path, tmp_path / "cache")
    assert "sk-live-123" not in env.values() and "aws" not in env.values() and "hf" not in env.values()
    assert "SOME_UNLISTED" not in env
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["TRITON_INTERPRET"] == "1" and env["HOME"] == str(tmp_path)


@pytest.mark.parametrize("name", ["CI_BROWSER_COOKIE", "APP_SESSION_ID", "OPENAI_ORG", "AWS_REGION", "HF_ENDPOINT",
                                  "DB_PASSWORD"])
def test_a_credential_named_variable_is_scrubbed_from_workers_and_redacted_from_verdicts(name, monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "ENV_ALLOW", sandbox.ENV_ALLOW | {name})  # dropped even when allow-listed
    monkeypatch.setenv(name, "value-0123456789")
    assert name not in scrubbed_env({}, tmp_path, tmp_path / "cache")
    assert redact(f"{name}=value-0123456789", credential_values()) == f"{name}=[REDACTED]"


def test_worker_paths_are_absolute_so_the_evaluator_and_the_worker_name_the_same_caches(monkeypatch, tmp_path):
    """A run's workdir is relative (runs/<id>/eval) and each worker runs in its own dir: a relative cache path
    would name another cache inside the worker than the one the evaluator seeds with the run's warm snapshot
    and the kernels precompiled for its candidate (kernel_cache.py). What is shared across the run's workers and
    what stays private is checked through real processes in test_kernel_cache.py."""
    monkeypatch.chdir(tmp_path)
    env = scrubbed_env({}, Path("runs/r1/eval/worker_a"), Path("runs/r1/eval/worker_a/cache"))
    for name in ("HOME", "TMPDIR", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR"):
        assert Path(env[name]).is_absolute(), (name, env[name])
    private = tmp_path / "runs" / "r1" / "eval" / "worker_a"
    assert env["TRITON_CACHE_DIR"] == str(private / "cache" / "triton")
    assert env["TORCHINDUCTOR_CACHE_DIR"] == str(private / "cache" / "inductor")
    assert env["HOME"] == env["TMPDIR"] == str(private)


@pytest.mark.slow
def test_parent_api_key_is_absent_inside_the_candidate(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "jail_layers", tuple)  # the probe reports through a file outside its jail
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-never-leak")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-should-never-leak")
    out = tmp_path / "probe.txt"
    with Evaluator(load_task(str(HERE / "tasks" / "scale_shift.py")), platform="cpu", config=FAST,
                   workdir=tmp_path / "work") as evaluator:
        result = evaluator.evaluate(PROBE.format(path=str(out)), candidate_id="env-probe")
    assert result.status is EvalStatus.OK, result.reason
    written = out.read_text()
    assert written.endswith("\nABSENT")
    assert "should-never-leak" not in written


def test_platforms_follow_the_protocol_and_auto_shapes_depend_on_platform(tmp_path):
    for name in ("cpu", "cuda", "rocm", "mtia"):
        assert isinstance(get_platform(name), Platform)
    task = load_task("conv1d")
    cpu = Evaluator(task, platform="cpu", config=EvalConfig(), workdir=tmp_path)
    assert cpu.shapes == list(task.module.SMALL_SHAPES) and cpu.heldout == list(task.module.SMALL_HELDOUT_SHAPES)
    prod = Evaluator(task, platform="cpu", config=EvalConfig(shape_set=ShapeSetChoice.production), workdir=tmp_path)
    assert prod.shapes == list(task.module.SHAPES)


def _hostile(kind: int) -> str:
    if kind == 0:
        return "import faulthandler\nfaulthandler._sigsegv()\n" + HONEST
    if kind == 1:
        return "while True:\n    pass\n" + HONEST
    return "import os\nos._exit(3)\n" + HONEST


@pytest.mark.slow
def test_fifteen_candidates_with_six_failures_all_get_recorded(tmp_path: Path):
    # every kind of failure twice, each followed by an honest candidate in the worker that replaces the failed one
    # (fifty candidates took 164 s of CI for the same coverage); 10 s a verdict: a crash's fresh worker must import
    # and run the candidate within it on a loaded 2-core machine
    config = dataclasses.replace(FAST, timeout_s=10.0, seeds=1, extra_distribution=False)
    sources = [(f"bad{i}", _hostile(i % 3)) if i % 5 in (1, 3) else (f"ok{i}", HONEST) for i in range(15)]
    assert sorted(int(name[3:]) % 3 for name, _ in sources if name.startswith("bad")) == [0, 0, 1, 1, 2, 2]
    with Evaluator(load_task(str(HERE / "tasks" / "scale_shift.py")), platform="cpu", config=config,
                   workdir=tmp_path) as evaluator:
        results = {name: evaluator.evaluate(src, candidate_id=name) for name, src in sources}
    assert len(results) == 15
    for name, result in results.items():
        if name.startswith("ok"):
            assert result.ok, f"{name}: {result.reason}"
        else:
            expected = (EvalStatus.CRASHED, EvalStatus.TIMEOUT, EvalStatus.CRASHED)[int(name[3:]) % 3]
            assert result.status is expected, f"{name}: {result.status} {result.reason}"


def test_the_worker_host_memory_limit_grows_with_inputs_built_on_the_host(tmp_path: Path):
    big = tmp_path / "big_host_inputs.py"
    big.write_text((HERE / "tasks" / "scale_shift.py").read_text().replace(
        'SHAPES = {"n37": {"n": 37}, "n300": {"n": 300}}', 'SHAPES = {"n37": {"n": 37}, "big": {"n": 50_000_001}}'))
    config = dataclasses.replace(FAST, memory_limit_gb=4.0)
    device = types.SimpleNamespace(interpreter=False, name="cuda")  # the rule for a device; nothing is spawned
    with Evaluator(load_task(str(big)), platform="cpu", config=config, workdir=tmp_path / "a") as evaluator:
        assert evaluator.host_memory_gb() == 4.0  # the cpu platform's small shapes: the configured limit
        evaluator.platform = device
        # three fp32 inputs of 50,000,001 elements: 0.56 GiB per input set, twice that on top of the limit
        assert evaluator.host_memory_gb() == pytest.approx(4.0 + 2 * 3 * 4 * 50_000_001 / 2**30)
    conv1d = load_task("conv1d")  # builds on the device: its inputs never live on the host
    with Evaluator(conv1d, platform="cpu", config=config, workdir=tmp_path / "b") as evaluator:
        evaluator.platform = device
        assert evaluator.host_memory_gb() == 4.0
    off = dataclasses.replace(FAST, memory_limit_gb=0.0)
    with Evaluator(load_task(str(big)), platform="cpu", config=off, workdir=tmp_path / "c") as evaluator:
        evaluator.platform = device
        assert evaluator.host_memory_gb() == 0.0  # no limit stays no limit


def test_a_starting_worker_holds_the_device_gate_only_for_its_baselines(tmp_path: Path):
    from kernelevolve.eval.device_gate import DeviceGate

    holds: list[tuple[str, float, float]] = []
    gate = DeviceGate("cpu-test", tmp_path / "gates", on_release=lambda mode, s, e: holds.append((mode, s, e)))
    with Evaluator(load_task(str(HERE / "tasks" / "scale_shift.py")), platform="cpu",
                   config=dataclasses.replace(FAST, spare_worker=False), workdir=tmp_path / "eval",
                   gate=gate) as evaluator:
        first = evaluator.evaluate(HONEST, candidate_id="first")
        warm = len(holds)
        second = evaluator.evaluate(HONEST, candidate_id="second")
    assert first.ok and second.ok
    # the first verdict's worker start took the gate once more than a warm verdict needs
    assert warm == len(holds) - warm + 1
    assert holds[0][0] == "shared"
    stages = {k: v for k, v in first.metrics.items() if k.startswith("phase.worker_start.")}
    assert set(stages) == {"phase.worker_start.context_s", "phase.worker_start.baselines_s"}
    assert stages["phase.worker_start.context_s"] > 0  # imports and device set-up ran before the gate was asked for
    assert "phase.worker_start.context_s" not in second.metrics  # no start in a warm verdict


def test_a_re_timed_verdict_sets_the_judges_best_so_later_equal_speedups_are_not_re_timed(tmp_path):
    """The record rule (conversation._new_record) needs the best of verdicts that were themselves re-timed: a task
    whose honest kernels all sit above eval.suspicious_speedup has no other kind."""
    from kernelevolve.core.types import ShapeTiming
    from kernelevolve.eval.conversation import _new_record

    ev = Evaluator(load_task("conv1d"), platform="cpu", config=EvalConfig(), workdir=tmp_path)
    timings = [ShapeTiming(shape="tiny", candidate_ms=0.05, candidate_iqr_ms=0.0, baseline_ms=1.0, baseline_iqr_ms=0.0)]
    flagged = EvalResult(status=EvalStatus.OK, fitness=20.0, timings=timings, metrics={"flagged_for_review": 1.0})
    assert _new_record(timings, ev.best_ms, 20.0, ev.best_fitness)
    ev._learn_best(flagged)
    assert ev.best_ms == {"tiny": 0.05} and ev.best_fitness == 20.0
    assert not _new_record(timings, ev.best_ms, 20.0, ev.best_fitness)
    ev.close()
