"""Runs a task's reference Model on one shape: builds it, moves inputs, normalizes outputs to a tuple.

Errors raised by the task's own code become TaskError naming the file, the shape and the fix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import torch

from kernelevolve.core.errors import TaskError
from kernelevolve.tasks.spec import Task

logger = logging.getLogger(__name__)

LOW_PRECISION = (torch.float16, torch.bfloat16)


def move_inputs(inputs: Sequence[Any], device: torch.device | str, *, upcast: bool = False) -> list[Any]:
    """Returns the inputs on `device`; with upcast, fp16/bf16 tensors become fp32 copies. Non-tensors pass."""
    moved = []
    for value in inputs:
        if isinstance(value, torch.Tensor):
            value = value.to(device)
            if upcast and value.dtype in LOW_PRECISION:
                value = value.float()
        moved.append(value)
    return moved


def build_model(task: Task, shape_name: str, seed: int, device: torch.device | str,
                *, upcast: bool = False) -> torch.nn.Module:
    """Returns the task's Model for a shape, parameters seeded by `seed`, on `device` (fp32 when upcast)."""
    init = task.make_init_inputs(shape_name)
    torch.manual_seed(seed)  # nn.Module parameter init draws from the global generator
    try:
        model = task.model_class(*init)
    except Exception as exc:  # user code: any failure is the task's
        raise TaskError(f"{task.path}: Model(*get_init_inputs()) for shape {shape_name!r} raised "
                        f"{type(exc).__name__}: {exc}; make the constructor accept the init inputs.") from exc
    model = model.to(device)  # train mode, as KernelBench runs it: the candidate must match that
    return model.float() if upcast else model


def as_outputs(result: Any, task: Task) -> tuple[torch.Tensor, ...]:
    """Returns the reference result as a tuple of tensors; anything else is a TaskError."""
    items = (result,) if isinstance(result, torch.Tensor) else result
    if not isinstance(items, tuple | list) or not items or not all(isinstance(t, torch.Tensor) for t in items):
        kinds = type(result).__name__ if not isinstance(result, tuple | list) else [type(t).__name__ for t in result]
        raise TaskError(f"{task.path}: Model.forward returned {kinds}; it must return a tensor or a non-empty "
                        "tuple of tensors (return a tuple for several outputs).")
    return tuple(items)


def run_reference(task: Task, shape_name: str, inputs: Sequence[Any], *, seed: int = 0,
                  device: torch.device | str = "cpu", upcast: bool = False,
                  forward_seed: int | None = None) -> tuple[torch.Tensor, ...]:
    """Returns the reference outputs for `inputs` (CPU or device tensors), run on `device`.

    `seed` seeds the Model's parameter init; `forward_seed`, when given, reseeds the global generator just
    before forward, so two runs with different forward seeds expose a forward that draws random numbers.
    """
    model = build_model(task, shape_name, seed, device, upcast=upcast)
    args = move_inputs(inputs, device, upcast=upcast)
    if forward_seed is not None:
        torch.manual_seed(forward_seed)
    try:
        with torch.no_grad():
            result = model(*args)
    except Exception as exc:  # user code: any failure is the task's
        raise TaskError(f"{task.path}: the reference Model.forward raised {type(exc).__name__} on shape "
                        f"{shape_name!r}: {exc}; fix the reference or the inputs make_inputs builds.") from exc
    logger.debug("reference task=%s shape=%s device=%s upcast=%s", task.name, shape_name, device, upcast)
    return as_outputs(result, task)


BASELINE_MODE = "max-autotune-no-cudagraphs"
RECOMPILE_LIMIT = 256  # one static graph per shape of a task; dynamo's default (8) would run later shapes eagerly


def compile_baseline(model: Any, dynamic: bool | None = False, backend: Any = None) -> Any:
    """Returns torch.compile(model), the torch.compile baseline: by default specialised to the shapes it is called
    with (a task's COMPILE_DYNAMIC may say otherwise, see Task.compile_dynamic).

    dynamic=False matters: dynamo keys its recompiles by the code object, so a second shape of the same Model class
    (even a fresh instance) would otherwise be compiled with symbolic sizes ("automatic dynamic"), a weaker kernel
    than a user compiling at that one shape gets. The recompile limit is raised for the same reason: past it,
    dynamo silently runs the model eagerly. `backend` replaces Inductor (tests); else mode BASELINE_MODE.
    """
    limit = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
    setattr(torch._dynamo.config, limit, max(getattr(torch._dynamo.config, limit), RECOMPILE_LIMIT))
    if backend is not None:
        return torch.compile(model, backend=backend, dynamic=dynamic)
    return torch.compile(model, mode=BASELINE_MODE, dynamic=dynamic)


def compile_reference(task: Task, shape_name: str, inputs: Sequence[Any],
                      device: torch.device | str = "cuda") -> tuple[Any, dict[str, Any]]:
    """Returns (torch.compile(max-autotune-no-cudagraphs) of the reference, {"compile_s"}) compiled on `inputs`, or
    (None, {"compile_error": last line}) when torch.compile fails. A static compile per shape, as a per-shape
    deployment would get (dynamo is reset first); the benchmarks' torch.compile column."""
    torch._dynamo.reset()
    compiled = compile_baseline(build_model(task, shape_name, 0, device), task.compile_dynamic)
    start = time.perf_counter()
    try:
        with torch.no_grad(), torch._inductor.config.patch(task.compile_options):
            compiled(*inputs)
        torch.cuda.synchronize()
    except RuntimeError as exc:  # torch.compile bugs surface as RuntimeError subclasses
        return None, {"compile_error": str(exc).strip().splitlines()[-1][:200]}
    return compiled, {"compile_s": time.perf_counter() - start}
