"""Loads task files: built-ins by name, anything else by path."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
import types
from pathlib import Path

import torch

from kernelevolve.core.errors import TaskError
from kernelevolve.tasks.spec import DEFAULT_TOLERANCES, KERNELBENCH_TOLERANCE, Task

logger = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).parent / "builtin"

# What a file written for kernelevolve states beyond KernelBench's Model/get_inputs/get_init_inputs: its own
# tolerance, or its own inputs and shapes (whose author chose the tolerance with them; every built-in has these).
OWN_TASK_ATTRIBUTES = ("ATOL", "RTOL", "EXACT", "TOLERANCES", "UPCAST_REFERENCE", "make_inputs", "SHAPES",
                       "HELDOUT_SHAPES", "SMALL_SHAPES", "SMALL_HELDOUT_SHAPES")


def builtin_task_names() -> list[str]:
    """Returns the names of the built-in tasks, sorted."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.py") if not p.stem.startswith("_"))


def resolve_task_path(name_or_path: str) -> Path:
    """Returns the task file for a built-in name or a path; raises TaskError naming both options."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".py" or candidate.exists():
        if not candidate.is_file():
            raise TaskError(f"{candidate}: no such task file; give a path to a .py task or one of {builtin_task_names()}.")
        return candidate.resolve()
    builtin = BUILTIN_DIR / f"{name_or_path}.py"
    if builtin.is_file():
        return builtin
    raise TaskError(f"unknown task {name_or_path!r}: not a file and not a built-in; built-ins are {builtin_task_names()}.")


def load_task(name_or_path: str) -> Task:
    """Imports a task file and returns it as a Task; import errors become TaskError with the file name."""
    path = resolve_task_path(name_or_path)
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    module_name = f"kernelevolve_task_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TaskError(f"{path}: cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's task file can raise anything at import
        sys.modules.pop(module_name, None)
        raise TaskError(f"{path}: importing the task failed with {type(exc).__name__}: {exc}; fix the file.") from exc
    task = Task(name=path.stem, path=path, module=module, kernelbench_tolerance=is_plain_kernelbench(module))
    task.model_class  # noqa: B018 - fails early with an actionable message when Model is missing
    task.compile_dynamic  # noqa: B018 - a bad COMPILE_DYNAMIC fails at load, not in a worker's first timing
    logger.debug("loaded task=%s path=%s", task.name, path)
    return task


def is_plain_kernelbench(module: types.ModuleType) -> bool:
    """Returns True for a plain KernelBench problem: get_inputs() and none of OWN_TASK_ATTRIBUTES.

    Such a file is judged as KernelBench judges it (KERNELBENCH_TOLERANCE on every float output), so a suite's
    correct rate and fast_p compare with KernelBench's; a file that states any of OWN_TASK_ATTRIBUTES keeps
    the task format's defaults (DEFAULT_TOLERANCES) for what it leaves out.
    """
    return hasattr(module, "get_inputs") and not any(hasattr(module, name) for name in OWN_TASK_ATTRIBUTES)


def tolerance_policy(task: Task) -> str:
    """Returns one line saying which default tolerance the task's float outputs get, for reports."""
    if task.kernelbench_tolerance:
        atol, rtol = KERNELBENCH_TOLERANCE
        return f"KernelBench's atol={atol:g} rtol={rtol:g} (a plain KernelBench file)"
    atol, rtol = DEFAULT_TOLERANCES[torch.float32]
    return f"the task's own, else per dtype (fp32 atol={atol:g} rtol={rtol:g})"
