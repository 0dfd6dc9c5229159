"""Test cases: inputs (built alike in the worker and the referee from the same seeds) and reference outputs.

Only the referee computes references (reference=True); the worker, where candidate code runs, builds
the same inputs without them, so nothing there holds the answers.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import inspect
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch

from kernelevolve.eval.correctness import CaseId
from kernelevolve.tasks.spec import Task, Tolerance

INIT_SEED = 0  # torch seed before constructing Model and ModelNew, so parameterized models line up
MAX_DRAW = 2**20  # timed calls a job may make per shape (warm-up, calibration and reps of every round stay far below)
SPOT_DRAWS = 2  # timed calls per shape and round whose outputs the referee checks: the last and one drawn at random


def tensor_bytes(values: Any) -> int:
    """Returns the bytes of the tensors among values (other items count nothing)."""
    return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))


class CaseBudget:
    """The bytes of case inputs and references a process keeps materialized (one per process: BUDGET).

    Cases are deterministic in their seed, so a case beyond the limit need not be kept: the least recently
    used ones are dropped and rebuilt from their seed when read again. With no limit (the default, and every
    task whose cases fit) nothing is ever dropped; a full-size KernelBench problem (6 GB per input set) keeps
    a few input sets at a time instead of all of them, in the worker and in the referee alike.
    """

    def __init__(self) -> None:
        self.limit: int | None = None
        self.rebuilds = 0  # cases rebuilt after being dropped (reported by the judge)
        self._held: collections.OrderedDict[int, Case] = collections.OrderedDict()
        self._bytes = 0

    def reset(self, limit: int | None) -> None:
        """Starts a job: forgets the previous job's cases and sets the limit (None: unlimited)."""
        self._held.clear()
        self._bytes, self.rebuilds, self.limit = 0, 0, limit

    def touch(self, case: Case) -> None:
        """Marks a droppable case as just used; drops the least recently used others while over the limit."""
        key = id(case)
        if key in self._held:
            self._held.move_to_end(key)
        else:
            self._held[key] = case
            self._bytes += case.nbytes()
        while self.limit is not None and self._bytes > self.limit and len(self._held) > 1:
            _, old = self._held.popitem(last=False)
            self._bytes -= old.nbytes()
            old.drop()


BUDGET = CaseBudget()


def memory_limit(device: torch.device, fraction: float) -> int | None:
    """Returns `fraction` of the memory cases live in, in bytes: BUDGET's limit (None when fraction <= 0).

    The device's memory on GPUs (ROCm builds of torch present their devices as cuda too), the host's physical
    memory where cases live on the host."""
    if fraction <= 0:
        return None
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory * fraction)
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * fraction)


class Case:
    """One input set: the values the candidate sees (kept by the harness) and the reference outputs.

    `inputs` are device tensors (the candidate gets copies written into the shape's slots; the referee keeps
    none once its references are computed); `reference` is empty in the worker: references live in the
    referee. A case with `rebuild` may be dropped under BUDGET's limit and is rebuilt, identically, on access.
    """

    def __init__(self, *, id: CaseId, inputs: list[Any], reference: tuple[torch.Tensor, ...] = (),  # noqa: A002
                 rebuild: Callable[[], tuple[list[Any], tuple[torch.Tensor, ...]]] | None = None) -> None:
        self.id = id
        self._inputs: list[Any] | None = inputs
        self._reference = reference
        self._rebuild = rebuild
        if rebuild is not None:
            BUDGET.touch(self)

    def _materialize(self) -> None:
        if self._inputs is None and self._rebuild is not None:
            self._inputs, self._reference = self._rebuild()
            BUDGET.rebuilds += 1
        if self._rebuild is not None:
            BUDGET.touch(self)

    @property
    def inputs(self) -> list[Any]:
        self._materialize()
        return self._inputs if self._inputs is not None else []

    @property
    def reference(self) -> tuple[torch.Tensor, ...]:
        self._materialize()
        return self._reference

    def nbytes(self) -> int:
        """Returns the bytes this case holds now."""
        return tensor_bytes(self._inputs or []) + tensor_bytes(self._reference)

    def drop(self) -> None:
        """Frees the case's tensors (only a rebuildable case: it is rebuilt on its next access)."""
        if self._rebuild is not None:
            self._inputs, self._reference = None, ()


@dataclasses.dataclass(kw_only=True)
class ShapeCases:
    """All cases of one shape, with what every output must look like."""

    shape: str
    timed: bool
    cases: list[Case]
    expected: list[tuple[tuple[int, ...], torch.dtype]]  # the referee's; the worker learns it before timing
    tolerances: list[Tolerance]
    init_inputs: list[Any]


def to_device(values: list[Any], device: torch.device) -> list[Any]:
    """Returns the list with tensors moved to device (contiguous, fresh memory)."""
    return [v.to(device).clone() if isinstance(v, torch.Tensor) else v for v in values]


def _as_tuple(value: Any) -> tuple[torch.Tensor, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def build_model(task: Task, init_inputs: list[Any], device: torch.device, *, upcast: bool) -> torch.nn.Module:
    """Returns the reference Model built under INIT_SEED on device (fp32 parameters when upcast)."""
    torch.manual_seed(INIT_SEED)
    model = task.model_class(*init_inputs).to(device).eval()
    return model.float() if upcast else model


@contextlib.contextmanager
def ieee_fp32() -> Iterator[None]:
    """Runs the block with TF32 off in cuDNN convolutions and cuBLAS matmuls (cuDNN allows it by default).

    A reference computed in TF32 carries ~1e-3 relative error; against it, a candidate's fp32 tolerance
    would mean nothing (docs/TASKS.md §1: TF32 must be disabled in the reference).
    """
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def run_reference(model: torch.nn.Module, inputs: list[Any], upcast: bool) -> tuple[torch.Tensor, ...]:
    """Returns the reference outputs (fp32 copies of floating inputs when upcast, no TF32), detached."""
    args = [x.float() if upcast and isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in inputs]
    with torch.no_grad(), ieee_fp32():
        out = _as_tuple(model(*args))
    return tuple(o.detach().clone() for o in out)


def sign_flip(inputs: list[Any], seed: int) -> list[Any]:
    """Returns inputs with every floating tensor multiplied by random +-1 (negatives everywhere), drawn on the
    tensor's own device."""
    gens: dict[torch.device, torch.Generator] = {}
    flipped = []
    for x in inputs:
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            gen = gens.setdefault(x.device, torch.Generator(device=x.device).manual_seed(seed))
            signs = torch.randint(0, 2, x.shape, generator=gen, device=x.device, dtype=torch.int8).mul_(2).sub_(1)
            x = x * signs  # int8 signs: a quarter of an int64 draw's memory at full-size inputs
        flipped.append(x)
    return flipped


def _expected_structure(task: Task, init_inputs: list[Any], inputs: list[Any], ref: tuple[torch.Tensor, ...],
                        device: torch.device) -> list[tuple[tuple[int, ...], torch.dtype]]:
    """Returns (shape, dtype) per output as the reference gives them on the task's own dtypes."""
    if not task.upcast_reference:
        return [(tuple(r.shape), r.dtype) for r in ref]
    try:
        native = run_reference(build_model(task, init_inputs, device, upcast=False), inputs, upcast=False)
        return [(tuple(n.shape), n.dtype) for n in native]
    except (RuntimeError, NotImplementedError):  # e.g. an fp16 op without a host kernel
        low = next((x.dtype for x in inputs if isinstance(x, torch.Tensor) and x.is_floating_point()), None)
        return [(tuple(r.shape), low if low is not None and r.dtype == torch.float32 else r.dtype) for r in ref]


def _tolerance(task: Task, dtype: torch.dtype, index: int, shape: str) -> Tolerance:
    probe = torch.empty(0, dtype=dtype)
    if "shape_name" in inspect.signature(task.tolerance).parameters:  # dtype-keyed TOLERANCES
        return task.tolerance(probe, index, shape_name=shape)
    return task.tolerance(probe, index)


def case_ids(task: Task, shape: str, seeds: list[int], extra_seed: int | None) -> list[CaseId]:
    """Returns the ids of one shape's cases in order: one per seed, then the sign-flipped one when asked."""
    ids = [CaseId(shape=shape, seed=s, label="seed") for s in seeds]
    if extra_seed is not None and getattr(task.module, "EVAL_SIGN_FLIP", True):
        ids.append(CaseId(shape=shape, seed=extra_seed, label="signflip"))
    return ids


def timed_case_id(shape: str, timing_seed: int, draw: int) -> CaseId:
    """Returns the inputs' id of a shape's draw-th timed call in a job: a seed derived from the job's secret
    timing_seed, distinct per shape and draw, so no timed call sees inputs any earlier call saw (the referee
    derives the same seed from its own copy of timing_seed to check that call's outputs)."""
    digest = hashlib.blake2b(f"{timing_seed}/{shape}/{draw}".encode(), digest_size=8).digest()
    return CaseId(shape=shape, seed=int.from_bytes(digest, "big") % 2**31, label=f"timed call {draw}")


def make_case_inputs(task: Task, case_id: CaseId, device: torch.device) -> list[Any]:
    """Returns one case's inputs on device (built there when the task can, see Task.builds_on_device)."""
    values = task.make_inputs(case_id.shape, case_id.seed, device=device)
    if case_id.label == "signflip":
        values = sign_flip(values, case_id.seed)
    return to_device(values, device)  # fresh memory of the harness's own (a device copy is microseconds)


def build_shape_cases(task: Task, shape: str, *, timed: bool, seeds: list[int], extra_seed: int | None,
                      device: torch.device, reference: bool = True, numbers: range | None = None,
                      first: int = 0, device_work: Callable[[], Any] = contextlib.nullcontext) -> ShapeCases:
    """Returns the cases of one shape: one per seed, plus a sign-flipped one when extra_seed is set.

    reference=False builds the inputs alone (the worker's view): no reference outputs, no expected
    structure and no tolerances. `numbers` (job-wide case numbers, this shape's starting at `first`)
    builds only those cases: early rejection builds the job's first case before any other.
    """
    init_inputs = task.make_init_inputs(shape)
    upcast = task.upcast_reference
    ids = [(first + i, cid) for i, cid in enumerate(case_ids(task, shape, seeds, extra_seed))]
    ids = [(n, cid) for n, cid in ids if numbers is None or n in numbers]
    ref_model = build_model(task, init_inputs, device, upcast=upcast) if reference and ids else None
    cases, expected = [], []
    for _, case_id in ids:
        inputs = make_case_inputs(task, case_id, device)
        if ref_model is None:  # the worker: inputs alone
            cases.append(Case(id=case_id, inputs=inputs, rebuild=functools.partial(_rebuild, task, case_id, device)))
            continue
        with device_work():  # the referee's device-time span of one reference forward
            refs = run_reference(ref_model, inputs, upcast)
        if not expected:
            expected = _expected_structure(task, init_inputs, inputs, refs, device)
        del inputs  # the referee keeps references only
        cases.append(Case(id=case_id, inputs=[], reference=refs,
                          rebuild=functools.partial(_rebuild, task, case_id, device, ref_model, upcast)))
    if ref_model is None:
        return ShapeCases(shape=shape, timed=timed, cases=cases, expected=[], tolerances=[], init_inputs=init_inputs)
    tolerances = [_tolerance(task, dtype, i, shape) for i, (_, dtype) in enumerate(expected)]
    return ShapeCases(shape=shape, timed=timed, cases=cases, expected=expected, tolerances=tolerances,
                      init_inputs=init_inputs)


def _rebuild(task: Task, case_id: CaseId, device: torch.device, ref_model: torch.nn.Module | None = None,
             upcast: bool = False) -> tuple[list[Any], tuple[torch.Tensor, ...]]:
    """Returns a dropped case again: its inputs (worker), or no inputs and its references (referee)."""
    inputs = make_case_inputs(task, case_id, device)
    if ref_model is None:
        return inputs, ()
    return [], run_reference(ref_model, inputs, upcast)


def build_job_cases(task: Task, *, shapes: list[str], heldout: list[str], seeds: list[int], extra_seed: int | None,
                    device: torch.device, reference: bool, numbers: range | None = None,
                    device_work: Callable[[], Any] = contextlib.nullcontext) -> list[ShapeCases]:
    """Returns the cases of a job's timed shapes, then its held-out ones: the one order in which the worker
    (reference=False) and the referee (reference=True) both number cases, so a manifest's case numbers
    mean the same input set on both sides. `numbers` builds only those job-wide case numbers (shapes
    with none of them are left out)."""
    found, first = [], 0
    for names, timed in ((shapes, True), (heldout, False)):
        for shape in names:
            count = len(case_ids(task, shape, seeds, extra_seed))
            span = range(first, first + count)
            if numbers is None or any(n in numbers for n in span):
                found.append(build_shape_cases(task, shape, timed=timed, seeds=seeds, extra_seed=extra_seed,
                                               device=device, reference=reference, numbers=numbers, first=first,
                                               device_work=device_work))
            first += count
    return found
