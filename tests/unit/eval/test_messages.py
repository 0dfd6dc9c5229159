"""The messages that cross the judge's process boundaries (eval/wire/messages.py): what is sent is what is read,
and a missing or mistyped field is named, never a KeyError deep in the harness."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from kernelevolve.core.types import EvalResult, EvalStatus, ShapeTiming
from kernelevolve.eval.wire.messages import (
    BadMessage,
    CompileReport,
    EvalJob,
    Hello,
    InputPlacement,
    JudgeOutputs,
    NextStep,
    PrecompileJob,
    PrepareCases,
    Prepared,
    Step,
    WorkerReport,
)

JOB = EvalJob(candidate_id="n7", source="import torch\n", shapes=["m3_n17", "tail"], heldout=["odd_5x7"],
              seeds=[0, 2**31 - 1], extra_seed=-3, extra_distribution=False, timing=True, baseline="compile",
              profile=True, warmup_ms=25, rep_ms=50.5, reps=3, flush_mb=0.0, min_triton_fraction=0.5,
              suspicious_speedup=10.0, error_chars=4000, timing_seed=11, baseline_refresh=20,
              baseline_probe_tolerance=0.05, slower_margin=-1.0, case_memory_fraction=0.15, best_ms={"tail": 0.25})


def _sent(message: dict) -> dict:
    """Returns a message as the other process reads it: JSON on the wire, with the channel's nonce."""
    return json.loads(json.dumps({**message, "nonce": "n"}))


def test_a_job_reads_back_as_sent():
    assert EvalJob.from_wire(_sent(JOB.to_wire())) == JOB
    assert _sent(JOB.to_wire())["kind"] == "job"


@pytest.mark.parametrize(("field", "value", "words"), [
    ("seeds", "1,2", "EvalJob.seeds must be list[int], got str"),
    ("seeds", [1, True], "EvalJob.seeds must be list[int]"),
    ("reps", 3.5, "EvalJob.reps must be int, got float"),
    ("profile", 1, "EvalJob.profile must be bool, got int"),
    ("rep_ms", None, "EvalJob.rep_ms must be float, got NoneType"),
    ("best_ms", {"tail": "fast"}, "EvalJob.best_ms must be dict[str, float]"),
])
def test_a_mistyped_job_field_is_named(field, value, words):
    with pytest.raises(BadMessage, match=words.replace("[", r"\[").replace("]", r"\]")):
        EvalJob.from_wire({**_sent(JOB.to_wire()), field: value})


def test_a_truncated_job_names_its_missing_field():
    wire = _sent(JOB.to_wire())
    del wire["timing_seed"]
    with pytest.raises(BadMessage, match="EvalJob has no 'timing_seed' field"):
        EvalJob.from_wire(wire)
    with pytest.raises(BadMessage, match="must be a JSON object, got list"):
        EvalJob.from_wire([wire])


def test_the_evaluators_steps_read_back_as_sent():
    step = NextStep(phase=Step.retime, expected={"tail": [[[2, 3], "float16"]]})
    assert NextStep.from_wire(_sent(step.to_wire())) == step
    assert NextStep.from_wire(_sent(NextStep(phase=Step.abort).to_wire())).phase == "abort"
    with pytest.raises(BadMessage, match="NextStep has no 'phase' field"):
        NextStep.from_wire({"kind": "job", "expected": {}})


def test_a_compile_only_job_reads_back_as_sent():
    job = PrecompileJob(candidate_id="c", source="x = 1\n", shapes=["s"], inputs=InputPlacement.device.value,
                        error_chars=10)
    assert PrecompileJob.from_wire(_sent(job.to_wire())) == job
    with pytest.raises(BadMessage, match="PrecompileJob.shapes must be list"):
        PrecompileJob.from_wire({**_sent(job.to_wire()), "shapes": "s"})


def test_a_worker_report_reads_back_as_sent():
    timing = ShapeTiming(shape="tail", candidate_ms=0.5, candidate_iqr_ms=0.0, baseline_ms=1.5, baseline_iqr_ms=0.1)
    report = WorkerReport(phase="timed", result=EvalResult(status=EvalStatus.OK, timings=[timing],
                                                           metrics={"checked_through": 4.0}),
                          outputs=[{"case": 0, "index": 1}])
    assert WorkerReport.from_wire(_sent(report.to_wire())) == report
    final = dataclasses.replace(report, phase="final", recycle=True, outputs=[])
    assert WorkerReport.from_wire(_sent(final.to_wire())) == final


@pytest.mark.parametrize(("wire", "words"), [
    ({"kind": "result", "phase": "final"}, "needs a `result` object"),
    ({"kind": "result", "phase": "final", "result": "ok"}, "needs a `result` object"),
    ({"kind": "result", "result": {"status": "ok"}}, "WorkerReport has no 'phase' field"),
    ({"kind": "result", "phase": "final", "result": {"reason": "r"}}, "result is not a verdict (KeyError"),
    ({"kind": "result", "phase": "final", "result": {"status": "ok", "metrics": {"x": "4"}}}, "metrics must map"),
    ({"kind": "result", "phase": "final", "result": {"status": "ok"}, "recycle": "no"}, "recycle must be bool"),
    ({"kind": "result", "phase": "timed", "result": {"status": "ok"}, "outputs": [3]}, "outputs must be list"),
])
def test_a_forged_or_truncated_worker_report_is_refused_with_what_is_wrong(wire, words):
    with pytest.raises(BadMessage, match=words.replace("(", r"\(").replace("`", ".")):
        WorkerReport.from_wire(wire)


def test_the_referees_requests_and_answers_read_back_as_sent():
    prepare = PrepareCases(shapes=["tail"], seeds=[7], heldout=["odd_5x7"], extra_seed=9, extra_distribution=True,
                           stop=1, case_memory_fraction=0.15)
    assert PrepareCases.from_wire(_sent(prepare.to_wire())) == prepare
    assert PrepareCases.from_wire(_sent(PrepareCases(shapes=["tail"], seeds=[7]).to_wire())).case_memory_fraction is None
    judge = JudgeOutputs(outputs=[{"case": 0}], pid=None, require="all", min_case=1, max_case=4)
    assert JudgeOutputs.from_wire(_sent(judge.to_wire())) == judge
    prepared = Prepared(cases=6, expected={"tail": [[[3, 7, 37], "float16"]]}, phases={"phase.referee.prepare_s": 0.5})
    assert Prepared.from_wire(_sent(prepared.to_wire())) == prepared
    with pytest.raises(BadMessage, match=re.escape("PrepareCases.case_memory_fraction must be float | None, got str")):
        PrepareCases.from_wire({**_sent(prepare.to_wire()), "case_memory_fraction": "0.15"})
    with pytest.raises(BadMessage, match=re.escape("JudgeOutputs.max_case must be int | None, got float")):
        JudgeOutputs.from_wire({**_sent(judge.to_wire()), "max_case": 4.5})
    with pytest.raises(BadMessage, match="Prepared has no 'cases' field"):
        Prepared.from_wire({"expected": {}})


def test_a_compile_only_report_reads_back_as_sent():
    report = CompileReport(status="compile_error", compiled=2, compile_s=0.5, skipped_configs=1, error="ptxas")
    assert CompileReport.from_wire(_sent(report.to_wire())) == report
    assert CompileReport.from_wire({"status": "ok"}).error is None
    with pytest.raises(BadMessage, match="CompileReport.compiled must be int, got str"):
        CompileReport.from_wire({"status": "ok", "compiled": "2"})


def test_a_hello_reads_back_as_sent_and_a_bare_one_asks_for_nothing():
    hello = Hello(warm_shapes=["tail"], baseline="compile", staged=True)
    assert Hello.from_wire(_sent(hello.to_wire())) == hello
    assert Hello.from_wire({"kind": "hello", "nonce": "n"}) == Hello()
    with pytest.raises(BadMessage, match="Hello.staged must be bool, got str"):
        Hello.from_wire({"kind": "hello", "staged": "yes"})


def test_a_ready_and_a_profile_report_read_back_as_sent():
    from kernelevolve.eval.wire.messages import ProfileReport, Ready, Stage

    ready = Ready(network_isolated=True, device_name="cpu", torch="2.13.0", triton="3.7.1",
                  start={"context_s": 0.25, "baselines_s": 3})
    assert Ready.from_wire(_sent(ready.to_wire())) == ready and _sent(ready.to_wire())["kind"] == "ready"
    assert Ready.from_wire({"kind": "ready"}) == Ready() and Ready().device_name == "unknown"
    assert Ready.from_wire(_sent(Ready(stage=Stage.context).to_wire())).stage == Stage.context
    with pytest.raises(BadMessage, match=re.escape("Ready.start must be dict[str, float], got dict")):
        Ready.from_wire({"kind": "ready", "start": {"context_s": None}})
    with pytest.raises(BadMessage, match="Ready.stage must be one of"):
        Ready.from_wire({"kind": "ready", "stage": "warm"})
    report = ProfileReport(shape="tiny", calls=3, triton_kernels=["_a", "_b"])
    assert ProfileReport.from_wire(_sent(report.to_wire())) == report
    with pytest.raises(BadMessage, match="ProfileReport has no 'calls' field"):
        ProfileReport.from_wire({"shape": "tiny", "triton_kernels": []})
