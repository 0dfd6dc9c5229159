"""The referee decides correctness from outputs handed over as data; the worker's manifest cannot fool it."""

from __future__ import annotations

import os

import pytest
import torch
from eval_helpers import HERE, FakeDevice

from kernelevolve.core.types import EvalStatus
from kernelevolve.eval.cases import (
    build_model,
    build_shape_cases,
    make_case_inputs,
    timed_case_id,
)
from kernelevolve.eval.phases import PhaseClock
from kernelevolve.eval.platforms import get_platform
from kernelevolve.eval.referee.main import Referee
from kernelevolve.eval.wire import exchange
from kernelevolve.eval.wire.messages import BadMessage, JudgeOutputs, PrepareCases
from kernelevolve.tasks.loader import load_task

DEVICE = torch.device("cpu")


PID = os.getpid()  # the test process plays the worker: its memfds are the outputs
F32 = ((2,), torch.float32)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.int64, torch.bool])
def test_file_exchange_round_trips_bits(dtype):
    gen = torch.Generator().manual_seed(3)
    value = (torch.randn(3, 5, 7, generator=gen) * 100).to(dtype)  # odd sizes, negatives, a tail
    view = value.transpose(0, 2)  # not contiguous: exported contiguous, same values
    entry = exchange.export(view, case=4, index=1, as_file=True)
    wired = exchange.wire(entry)
    assert isinstance(wired["fd"], int) and "keep_fd" not in wired and "keep" not in wired
    got = exchange.open_output(wired, expected=(tuple(view.shape), dtype), device=DEVICE, pid=PID)
    assert got.dtype == dtype and torch.equal(got, view.contiguous())


def test_an_exported_output_cannot_be_changed_afterwards():
    entry = exchange.export(torch.arange(4.0), case=0, index=0, as_file=True)
    with pytest.raises(PermissionError):  # sealed: not even the worker (where the candidate runs) can write
        os.pwrite(entry["fd"], b"\0" * 4, 0)
    with pytest.raises(PermissionError):
        os.ftruncate(entry["fd"], 0)
    got = exchange.open_output(exchange.wire(entry), expected=((4,), torch.float32), device=DEVICE, pid=PID)
    assert torch.equal(got, torch.arange(4.0))


@pytest.mark.parametrize("fd", ["3", -1, None, True, 2.0])
def test_a_descriptor_the_harness_never_hands_over_is_refused(fd):
    entry = {"case": 1, "index": 0, "dtype": "float32", "size": [2], "fd": fd}
    with pytest.raises(exchange.BadExchange, match="not one the harness hands over"):
        exchange.open_output(entry, expected=F32, device=DEVICE, pid=PID)


@pytest.mark.timeout(20)
def test_an_unsealed_file_a_fifo_or_a_directory_is_refused_without_blocking(tmp_path):
    """A candidate owns its process: it can put any open file at a descriptor number the manifest names."""
    (tmp_path / "plain").write_bytes(b"\0" * 8)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    fds = [os.open(tmp_path / "plain", os.O_RDWR), os.open(tmp_path / "fifo", os.O_RDONLY | os.O_NONBLOCK),
           os.open(tmp_path / "dir", os.O_RDONLY)]
    try:
        for fd in fds:
            entry = {"case": 1, "index": 0, "dtype": "float32", "size": [2], "fd": fd}
            with pytest.raises(exchange.BadExchange, match="not a sealed output"):
                exchange.open_output(entry, expected=F32, device=DEVICE, pid=PID)
    finally:
        for fd in fds:
            os.close(fd)


def test_a_short_or_missing_output_is_refused():
    short = exchange.sealed_memfd("short", memoryview(b"\0" * 4))
    entry = {"case": 1, "index": 0, "dtype": "float32", "size": [2], "fd": short}
    with pytest.raises(exchange.BadExchange, match="holds 4 bytes, expected 8"):
        exchange.open_output(entry, expected=F32, device=DEVICE, pid=PID)
    os.close(short)
    with pytest.raises(exchange.BadExchange, match="cannot be opened"):
        exchange.open_output(entry, expected=F32, device=DEVICE, pid=PID)
    with pytest.raises(exchange.BadExchange, match="not one the harness hands over"):
        exchange.open_output(dict(entry, fd=0), expected=F32, device=DEVICE, pid=None)  # no pid from the evaluator


def test_malformed_descriptions_are_refused():
    for bad in ({"dtype": "object", "size": [2]}, {"dtype": "float32", "size": [-1]},
                {"dtype": "float32", "size": "2"}):
        with pytest.raises(exchange.BadExchange, match="malformed"):
            exchange.open_output(dict(bad, fd=0), expected=F32, device=DEVICE, pid=PID)
    with pytest.raises(exchange.BadExchange, match="not on a CUDA device"):
        exchange.open_output({"dtype": "float32", "size": [2], "ipc": {}}, expected=F32, device=DEVICE, pid=PID)


@pytest.fixture(scope="module")
def conv1d():
    return load_task("conv1d")


def _referee(conv1d, seeds=(11, 12)) -> Referee:
    referee = Referee(conv1d, get_platform("cpu"))
    referee.prepare(PrepareCases.from_wire({"shapes": ["tail_fp16"], "heldout": ["k1"], "seeds": list(seeds), "extra_seed": 99,
                     "extra_distribution": True}))
    return referee


def _honest_outputs(conv1d, tmp_path=None, seeds=(11, 12), tamper=None) -> list[dict]:
    """What an honest worker exports: the task's own Model on the same inputs, numbered like the referee's
    (tamper(number, output) may change an output before it is exported)."""
    entries, number = [], 0
    for shape in ("tail_fp16", "k1"):
        sc = build_shape_cases(conv1d, shape, timed=True, seeds=list(seeds), extra_seed=99, device=DEVICE,
                               reference=False)
        model = build_model(conv1d, sc.init_inputs, DEVICE, upcast=False)
        for case in sc.cases:
            with torch.no_grad():
                out = model(*case.inputs)
            if tamper is not None:
                tamper(number, out)
            entries.append(exchange.wire(exchange.export(out, case=number, index=0, as_file=True)))
            number += 1
    return entries


def test_prepare_reports_each_shapes_output_structure(conv1d):
    referee = Referee(conv1d, get_platform("cpu"))
    found = referee.prepare(PrepareCases.from_wire({"shapes": ["tail_fp16"], "heldout": ["k1"], "seeds": [1, 2], "extra_seed": 3,
                             "extra_distribution": True}))
    assert found.cases == 6  # 2 shapes x (2 seeds + the sign-flipped set)
    assert found.expected["tail_fp16"] == [[[3, 7, 37], "float16"]]
    more = referee.prepare(PrepareCases.from_wire({"shapes": ["tail_fp16"], "seeds": [5], "append": True}))
    assert more.cases == 7


def test_honest_outputs_pass_and_one_wrong_element_fails(conv1d, tmp_path):
    referee = _referee(conv1d)
    entries = _honest_outputs(conv1d, tmp_path)
    ok = referee.judge(JudgeOutputs.from_wire({"outputs": entries, "pid": PID, "require": "all"}))
    assert ok.status is EvalStatus.OK, ok.reason

    def one_wrong_element(number, out):  # cases 0-2: tail_fp16 (2 seeds + sign flip); 3 = k1 seed 11
        if number == 3:
            out[0, 0, 2] = 1e3

    bad = referee.judge(JudgeOutputs.from_wire({"outputs": _honest_outputs(conv1d, tamper=one_wrong_element), "pid": PID, "require": "all"}))
    assert bad.status is EvalStatus.INCORRECT and "shape k1 seed 11" in bad.reason
    assert bad.mismatch is not None and bad.mismatch.first_bad_index == [0, 0, 2]
    assert bad.mismatch.max_abs_err > 900


def test_a_manifest_that_skips_or_invents_cases_is_an_integrity_violation(conv1d, tmp_path):
    referee = _referee(conv1d)
    entries = _honest_outputs(conv1d, tmp_path)
    for outputs, why in ((entries[:-1], "no outputs reported"), (entries + [dict(entries[0], case=40)], "unknown case"),
                         (entries + [entries[0]], "not distinct"), ("nonsense", "not a list")):
        verdict = referee.judge(JudgeOutputs(outputs=outputs, pid=PID, require="all"))  # type: ignore[arg-type]
        assert verdict.status is EvalStatus.INTEGRITY_VIOLATION and why in verdict.reason, verdict.reason
    with pytest.raises(BadMessage, match="JudgeOutputs.outputs must be list"):  # refused on the wire already
        JudgeOutputs.from_wire({"outputs": "nonsense", "pid": PID, "require": "all"})


def test_a_wrong_output_count_or_dtype_is_incorrect(conv1d, tmp_path):
    referee = _referee(conv1d)
    entries = _honest_outputs(conv1d, tmp_path)
    extra = exchange.wire(exchange.export(torch.zeros(2), case=0, index=1, as_file=True))
    verdict = referee.judge(JudgeOutputs.from_wire({"outputs": entries + [extra], "pid": PID, "require": "all"}))
    assert verdict.status is EvalStatus.INCORRECT and "2 outputs, expected 1" in verdict.reason
    as_fp32 = exchange.wire(exchange.export(torch.zeros(3, 7, 37), case=0, index=0, as_file=True))
    verdict = referee.judge(JudgeOutputs.from_wire({"outputs": [as_fp32, *entries[1:]], "pid": PID, "require": "all"}))
    assert verdict.status is EvalStatus.INCORRECT and "dtype torch.float32, expected torch.float16" in verdict.reason


def test_timed_calls_of_a_host_built_task_are_rebuilt_on_the_host_alike(tmp_path):
    """scale_shift's make_inputs has no device parameter: its timed calls' inputs are host-built, and the referee
    rebuilds them the same way from the job's timing_seed."""
    task = load_task(str(HERE / "tasks" / "scale_shift.py"))
    assert not task.builds_on_device
    referee = Referee(task, get_platform("cpu"))
    referee.prepare(PrepareCases(shapes=["n37", "n300"], seeds=[5], timing_seed=77))
    spot = []
    for first, shape in ((0, "n37"), (1, "n300")):
        for draw in (0, 13):
            x, w, b = make_case_inputs(task, timed_case_id(shape, 77, draw), DEVICE)
            y = x * w + b
            if (shape, draw) == ("n37", 13):
                y[36] = -y[36]  # the tail element of an odd size
            spot.append({**exchange.wire(exchange.export(y, case=first, index=0, as_file=True)), "draw": draw})
    bad = referee.judge(JudgeOutputs(outputs=spot, pid=PID, shapes=["n37", "n300"]))
    assert bad.status is EvalStatus.INCORRECT and "timed call 13" in bad.reason and "n37" in bad.reason, bad.reason
    fixed = make_case_inputs(task, timed_case_id("n37", 77, 13), DEVICE)
    spot[1] = {**exchange.wire(exchange.export(fixed[0] * fixed[1] + fixed[2], case=0, index=0, as_file=True)),
               "draw": 13}
    referee = Referee(task, get_platform("cpu"))
    referee.prepare(PrepareCases(shapes=["n37", "n300"], seeds=[5], timing_seed=77))
    ok = referee.judge(JudgeOutputs(outputs=spot, pid=PID, shapes=["n37", "n300"]))
    assert ok.status is EvalStatus.OK, ok.reason


def _timed_outputs(conv1d, timing_seed, draws, *, first=0, shape="tail_fp16", tamper=None) -> list[dict]:
    """What an honest worker hands over for timed calls `draws` of a shape: the task's Model on the inputs of
    cases.timed_case_id(shape, timing_seed, draw), tagged with the shape's first case number and the draw."""
    sc = build_shape_cases(conv1d, shape, timed=True, seeds=[0], extra_seed=None, device=DEVICE, reference=False)
    model = build_model(conv1d, sc.init_inputs, DEVICE, upcast=False)
    entries = []
    for draw in draws:
        case = timed_case_id(shape, timing_seed, draw)
        with torch.no_grad():
            out = model(*make_case_inputs(conv1d, case, DEVICE))
        if tamper is not None:
            tamper(draw, out)
        entries.append({**exchange.wire(exchange.export(out, case=first, index=0, as_file=True)), "draw": draw})
    return entries


def _timed_referee(conv1d, timing_seed=1234) -> Referee:
    referee = Referee(conv1d, get_platform("cpu"))
    referee.prepare(PrepareCases(shapes=["tail_fp16", "k1"], seeds=[11], timing_seed=timing_seed))
    return referee


def test_timed_calls_get_inputs_no_other_call_saw():
    seeds = {timed_case_id(shape, 1234, draw).seed for shape in ("tail_fp16", "k1") for draw in range(500)}
    assert len(seeds) == 1000  # distinct per shape and per call
    assert timed_case_id("k1", 1234, 7) == timed_case_id("k1", 1234, 7)  # what the referee rebuilds
    assert timed_case_id("k1", 1234, 7).seed != timed_case_id("k1", 4321, 7).seed  # secret: the job's seed


def test_timed_calls_are_judged_on_inputs_the_referee_rebuilds_from_its_own_seed(conv1d):
    referee = _timed_referee(conv1d)
    # tail_fp16's cases are numbered 0-1 (seed 11 and its sign flip is off), k1's from 1
    spot = _timed_outputs(conv1d, 1234, [3, 41]) + _timed_outputs(conv1d, 1234, [9], first=1, shape="k1")
    ok = referee.judge(JudgeOutputs(outputs=spot, pid=PID, shapes=["tail_fp16", "k1"], label="timed calls"))
    assert ok.status is EvalStatus.OK and "3 outputs of 3 timed calls" in ok.reason, ok.reason
    again = referee.judge(JudgeOutputs(outputs=spot, pid=PID, shapes=["tail_fp16", "k1"]))
    assert again.status is EvalStatus.INTEGRITY_VIOLATION and "judged already" in again.reason, again.reason

    referee = _timed_referee(conv1d)  # outputs computed on another seed's inputs: not the calls it times
    guessed = _timed_outputs(conv1d, 999, [3]) + _timed_outputs(conv1d, 999, [9], first=1, shape="k1")
    wrong = referee.judge(JudgeOutputs(outputs=guessed, pid=PID, shapes=["tail_fp16", "k1"]))
    assert wrong.status is EvalStatus.INCORRECT and "(timed call " in wrong.reason, wrong.reason


def test_one_wrong_element_in_a_timed_call_is_incorrect(conv1d):
    referee = _timed_referee(conv1d)

    def wrong_in_call_41(draw, out):
        if draw == 41:
            out[2, 6, 36] = -7.0  # the last element: the tail of an odd size

    spot = (_timed_outputs(conv1d, 1234, [3, 41], tamper=wrong_in_call_41)
            + _timed_outputs(conv1d, 1234, [9], first=1, shape="k1"))
    bad = referee.judge(JudgeOutputs(outputs=spot, pid=PID, shapes=["tail_fp16", "k1"]))
    assert bad.status is EvalStatus.INCORRECT and "timed call 41" in bad.reason, bad.reason
    assert bad.mismatch is not None and bad.mismatch.first_bad_index == [2, 6, 36]


def test_timed_outputs_without_a_call_number_too_many_calls_or_a_missing_shape_are_refused(conv1d):
    k1 = _timed_outputs(conv1d, 1234, [9], first=1, shape="k1")
    cases = [{k: v for k, v in e.items() if k != "draw"} for e in _timed_outputs(conv1d, 1234, [3])]
    for outputs, why in ((cases + k1, "without a timed call's number"),
                         (_timed_outputs(conv1d, 1234, [1, 2, 3]) + k1, "expected 1 to 2 calls"),
                         (k1, "expected 1 to 2 calls"),
                         ([dict(k1[0], draw=-1)] + _timed_outputs(conv1d, 1234, [3]), "timed call's number"),
                         ([dict(k1[0], draw=True)] + _timed_outputs(conv1d, 1234, [3]), "timed call's number"),
                         ([dict(k1[0], case=7)] + _timed_outputs(conv1d, 1234, [3]), "unknown case")):
        verdict = _timed_referee(conv1d).judge(JudgeOutputs(outputs=outputs, pid=PID, shapes=["tail_fp16", "k1"]))
        assert verdict.status is EvalStatus.INTEGRITY_VIOLATION and why in verdict.reason, verdict.reason


@pytest.mark.slow
def test_a_reference_that_raises_is_a_harness_failure_not_a_verdict(tmp_path):
    from eval_helpers import HERE

    from kernelevolve.core.errors import SandboxError
    from kernelevolve.eval.config import EvalConfig
    from kernelevolve.eval.evaluator import Evaluator

    broken = (HERE / "tasks" / "scale_shift.py").read_text().replace(
        "        return x * w + b", "        raise RuntimeError('reference exploded')")
    task_path = tmp_path / "broken_task.py"
    task_path.write_text(broken)
    honest = (HERE / "honest" / "scale_shift.py").read_text()
    with Evaluator(load_task(str(task_path)), platform="cpu", config=EvalConfig(seeds=1, timeout_s=60),
                   workdir=tmp_path / "work") as ev:
        with pytest.raises(SandboxError, match="could not compute the reference outputs"):
            ev.evaluate(honest, candidate_id="honest")
        assert ev.referee_starts == 2  # retried once with a fresh referee (and a fresh worker)


def test_a_huge_size_in_a_mismatched_description_costs_the_referee_no_memory(conv1d, tmp_path):
    """The structure-mismatch path must not allocate what the manifest claims (4 TiB here): INCORRECT, no OOM."""
    referee = _referee(conv1d)
    entries = _honest_outputs(conv1d, tmp_path)
    for size in ([2**40], [2**62, 2**62], []):
        bogus = dict(entries[0], size=size)
        verdict = referee.judge(JudgeOutputs.from_wire({"outputs": [bogus, *entries[1:]], "pid": PID, "require": "all"}))
        assert verdict.status is EvalStatus.INCORRECT and "has shape" in verdict.reason, verdict.reason


@pytest.mark.parametrize("make", [lambda: torch.arange(8.0)[::2][:1],  # size-1 dim, stride 2: "contiguous"
                                  lambda: torch.arange(24.0).view(2, 3, 4)[:1, :, 2:3],
                                  lambda: torch.tensor(3.5, dtype=torch.bfloat16)])
def test_an_honest_view_with_odd_strides_on_size_one_dims_exports(tmp_path, make):
    """is_contiguous() ignores the strides of size-1 dims; the byte view must not (a harness error before)."""
    value = make()
    entry = exchange.export(value, case=1, index=0, as_file=True)
    got = exchange.open_output(entry, expected=(tuple(value.shape), value.dtype), device=DEVICE, pid=PID)
    assert torch.equal(got, value)


def test_the_referees_own_device_error_is_a_harness_failure_not_swallowed(conv1d):
    """The phase clock records a device error instead of raising it (the worker turns one into the candidate's
    verdict); the referee runs no candidate code, so one there must still fail the job as the harness's."""
    referee = _referee(conv1d)
    device = FakeDevice()
    referee.phases = PhaseClock(device, prefix="referee.")
    with referee.phases.device_work():
        device.now += 1.0
    device.fault = RuntimeError("CUDA error: an illegal memory access was encountered")
    with pytest.raises(RuntimeError, match="the referee's device work failed: RuntimeError: CUDA error: an illegal"):
        referee._report()
