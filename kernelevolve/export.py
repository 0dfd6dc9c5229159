"""Exports a run as a shippable package: shape-aware dispatch to the fastest correct kernel per shape,
PyTorch fallback everywhere else.

The package (`<out>/__init__.py`) defines `Model` with the task's constructor and forward. A call whose
inputs match an optimized shape (tensor shapes, dtypes and scalar values) on the platform the run measured
runs the kernel that was fastest there; any other call — a shape never timed, a shape where every
kernel lost to the baseline, another device — runs the task's own PyTorch reference. DISPATCH.md
records each choice with its measured speedup.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kernelevolve.core.errors import StoreError
from kernelevolve.core.types import Node
from kernelevolve.report.data import DISPATCH_JSON
from kernelevolve.tasks import ShapeSet, Task

DEVICE_OF_PLATFORM = {"cuda": "cuda", "rocm": "cuda", "cpu": "cpu", "mtia": "mtia"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Choice:
    """What one optimized shape dispatches to: a node's kernel, or the reference (node_id None)."""

    shape: str
    signature: str
    node_id: int | None
    speedup: float | None
    why: str
    eager_speedup: float | None = None  # the best kernel against the eager reference, the fallback (compile runs)


def input_signature(inputs: Sequence[Any]) -> str:
    """Returns the dispatch key of a forward call: tensor shapes and dtypes, scalar values."""
    parts = []
    for value in inputs:
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            parts.append(f"T{tuple(value.shape)}:{str(value.dtype).removeprefix('torch.')}")
        else:
            parts.append(f"S{value!r}")
    return "|".join(parts)


def choose_kernels(nodes: Sequence[Node], shape_signatures: dict[str, str], *, platform: str,
                   min_speedup: float = 1.0) -> list[Choice]:
    """Returns one Choice per shape: the correct node with the best timing there, if it beats the bar.

    On real devices a kernel must beat the baseline by `min_speedup`, and where the judge also timed the eager
    reference (a torch.compile baseline: the verdict's `eager_ms.<shape>`) it must beat that too: the package's
    fallback is the eager reference, and a torch.compile slower than eager (graph breaks, host syncs) would
    otherwise let a kernel in that is slower than what runs without it. On cpu (interpreter timings, not
    speedups) the best-ranked correct kernel is taken and the choice says so.
    """
    choices = []
    for shape, signature in shape_signatures.items():
        timed = [(t.speedup, n.id, n, t) for n in nodes if n.result is not None and n.result.ok
                 for t in n.result.timings if t.shape == shape and t.speedup is not None]
        if not timed:
            choices.append(Choice(shape=shape, signature=signature, node_id=None, speedup=None,
                                  why="no correct kernel was timed on this shape"))
            continue
        speedup, node_id, node, timing = max(timed, key=lambda item: (item[0], -item[1]))
        if platform == "cpu":
            choices.append(Choice(shape=shape, signature=signature, node_id=node_id, speedup=None,
                                  why="best interpreter ranking (cpu run: no speed claim)"))
            continue
        eager = _eager_speedup(node.result.metrics, timing)
        against = f"{speedup:.2f}x the baseline" + (f", {eager:.2f}x eager (the fallback)" if eager is not None else "")
        if speedup < min_speedup or (eager is not None and eager < min_speedup):
            choices.append(Choice(shape=shape, signature=signature, node_id=None, speedup=speedup, eager_speedup=eager,
                                  why=f"best kernel (node {node_id}) is {against}, < {min_speedup:.2f}x: fallback"))
        else:
            choices.append(Choice(shape=shape, signature=signature, node_id=node_id, speedup=speedup,
                                  eager_speedup=eager, why=f"fastest correct kernel, {against}"))
    return choices


def _eager_speedup(metrics: dict[str, Any], timing: Any) -> float | None:
    """Returns the eager reference's time over the kernel's on a shape, where the judge timed it (else None)."""
    eager = metrics.get(f"eager_ms.{timing.shape}")
    if not isinstance(eager, int | float) or eager <= 0 or timing.candidate_ms <= 0:
        return None
    return float(eager) / timing.candidate_ms


def shape_signatures(task: Task, shape_set: ShapeSet) -> dict[str, str]:
    """Returns the dispatch key of every optimized shape (builds one set of inputs per shape)."""
    return {name: input_signature(task.make_inputs(name, seed=0)) for name in task.shapes(shape_set)}


def export_package(*, task: Task, nodes: Sequence[Node], choices: Sequence[Choice], out_dir: Path,
                   platform: str, run_id: str) -> Path:
    """Writes the dispatching package and returns its directory (replaced if it exists)."""
    known = {n.id: n for n in nodes}
    missing = [c.node_id for c in choices if c.node_id is not None and c.node_id not in known]
    if missing:
        raise StoreError(f"export: chosen nodes {missing} are not in the run {run_id}")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    shutil.copyfile(task.path, out_dir / "reference.py")
    table = {}
    for choice in choices:
        if choice.node_id is not None:
            module = f"kernel_node{choice.node_id}"
            (out_dir / f"{module}.py").write_text(known[choice.node_id].candidate.source)
            table[choice.signature] = module
    (out_dir / "__init__.py").write_text(_render_init(table, task=task, platform=platform, run_id=run_id))
    (out_dir / "DISPATCH.md").write_text(_render_table(choices, run_id=run_id, platform=platform))
    dispatch = {"run_id": run_id, "platform": platform, "choices": [dataclasses.asdict(c) for c in choices]}
    (out_dir / DISPATCH_JSON).write_text(json.dumps(dispatch, indent=1))  # what the HTML report shows
    return out_dir


def _render_table(choices: Sequence[Choice], *, run_id: str, platform: str) -> str:
    lines = [f"# Dispatch of run {run_id} ({platform})", "", "| shape | kernel | speedup | why |", "|---|---|---|---|"]
    for c in choices:
        kernel = f"node {c.node_id}" if c.node_id is not None else "PyTorch reference"
        speed = f"{c.speedup:.2f}x" if c.speedup is not None else "-"
        lines.append(f"| {c.shape} | {kernel} | {speed} | {c.why} |")
    lines += ["", "Every other input signature runs the PyTorch reference (reference.py).", "",
              "## What runs where", "", *WHERE[DEVICE_OF_PLATFORM.get(platform, platform) == "cpu"], "",
              "`explain(*inputs)` in the package returns what a given call runs on the machine it is called on."]
    return "\n".join(lines) + "\n"


WHERE = {  # DISPATCH.md's "what runs where", by whether the run was on the cpu platform
    True: ["- cpu tensors of a shape above: the chosen kernel under Triton's interpreter, where the interpreter "
           "can run in the calling process: TRITON_INTERPRET=1 is set, or Triton is installed, not yet imported, "
           "and no GPU is visible (the package then sets TRITON_INTERPRET=1 itself: with no GPU, Triton has "
           "nothing else to compile for). The result is the kernel's, but the interpreter is far slower than "
           "PyTorch: a cpu run ranks kernels, it does not make them fast.",
           "- anything else (Triton missing, Triton already imported without the interpreter, a visible GPU, "
           "tensors on another device): the PyTorch reference."],
    False: ["- tensors of a shape above on a GPU where Triton has a driver: the chosen kernel, compiled by Triton.",
            "- a machine without Triton or without a GPU driver for it, and tensors on any other device "
            "(cpu included): the PyTorch reference."],
}


def runs_where(platform: str) -> str:
    """Returns, for the end-of-run line, how the chosen kernels of a run on `platform` run."""
    if DEVICE_OF_PLATFORM.get(platform, platform) == "cpu":
        return "under the Triton interpreter on cpu tensors"
    return "compiled by Triton on a GPU"


_INIT_TEMPLATE = '''"""kernelevolve export of run @RUN@: task @TASK@, measured on @PLATFORM@.

Inputs matching an optimized shape on device "@DEVICE@" run the kernel chosen for it (see DISPATCH.md);
anything else runs the PyTorch reference in reference.py. Whether a chosen kernel can run depends on this
process: on a GPU Triton compiles it; on cpu tensors it runs under Triton's interpreter, which must be on
before Triton is imported. Where neither works, the reference runs. `explain(*inputs)` says which applies.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import torch
from torch import nn

from . import reference

DEVICE = "@DEVICE@"
TABLE = @TABLE@


@SIGNATURE@

def _device_of(inputs):
    return next((v.device.type for v in inputs if hasattr(v, "device")), None)


def _interpreter():
    """Returns (True, how) when Triton's interpreter can run here, turning it on if it must; else (False, why).

    TRITON_INTERPRET=1 is read when Triton is imported and when a kernel is defined, so it is set only while
    Triton is not yet imported, and only where no GPU is visible: there Triton has nothing else to compile for.
    """
    if os.environ.get("TRITON_INTERPRET") == "1":
        return True, "under the Triton interpreter"
    if importlib.util.find_spec("triton") is None:
        return False, "Triton is not installed"
    if "triton" in sys.modules:
        return False, ("Triton was imported without TRITON_INTERPRET=1, so its interpreter cannot run in this "
                       "process; set TRITON_INTERPRET=1 before anything imports triton")
    if torch.cuda.is_available():
        return False, ("a GPU is visible, and TRITON_INTERPRET=1 would interpret every Triton kernel of this "
                       "process; set it yourself to run the chosen kernels under the interpreter")
    os.environ["TRITON_INTERPRET"] = "1"
    return True, "under the Triton interpreter (TRITON_INTERPRET=1 set by this package: no GPU is visible)"


def _compiler():
    """Returns (True, how) when Triton has a driver for the GPU here, else (False, why)."""
    try:
        import triton

        triton.runtime.driver.active.get_current_target()
    except ImportError:
        return False, "Triton is not installed"
    except RuntimeError:  # "0 active drivers": no GPU Triton can compile for
        return False, f"Triton has no driver for {DEVICE} on this machine"
    return True, "compiled by Triton"


_RUNNER = []  # [(can run, how or why)], decided at the first call that needs a kernel (never at import)


def _runner():
    if not _RUNNER:
        _RUNNER.append(_interpreter() if DEVICE == "cpu" else _compiler())
    return _RUNNER[0]


def explain(*inputs):
    """Returns what a forward call with these inputs runs in this process, and why."""
    name = TABLE.get(input_signature(inputs))
    if name is None:
        return "PyTorch reference: no optimized shape has this input signature"
    if _device_of(inputs) != DEVICE:
        return f"PyTorch reference: the inputs are on {_device_of(inputs)}, the kernels were chosen for {DEVICE}"
    ok, how = _runner()
    return f"{name} {how}" if ok else f"PyTorch reference: {how}"


class Model(nn.Module):
    """The task's operator: a chosen Triton kernel where one was measured faster, else PyTorch."""

    def __init__(self, *init_args):
        super().__init__()
        self.reference = reference.Model(*init_args)
        self._init_args = init_args
        self._kernels = {}

    def forward(self, *inputs):
        name = TABLE.get(input_signature(inputs))
        if name is None or _device_of(inputs) != DEVICE or not _runner()[0]:
            return self.reference(*inputs)
        if name not in self._kernels:
            self._kernels[name] = self._build(name)
        return self._kernels[name](*inputs)

    def _build(self, name):
        kernel = importlib.import_module(f"{__name__}.{name}").ModelNew(*self._init_args)
        reference_state = self.reference.state_dict()
        if reference_state and set(kernel.state_dict()) == set(reference_state):
            kernel.load_state_dict(reference_state)  # the same parameters as the reference
            kernel.to(next(iter(reference_state.values())).device)
        return kernel
'''


def _render_init(table: dict[str, str], *, task: Task, platform: str, run_id: str) -> str:
    """Returns the package's __init__.py; it carries input_signature's own source, so keys always agree."""
    fills = {"@SIGNATURE@": inspect.getsource(input_signature),"@RUN@": run_id, "@TASK@": task.name, "@PLATFORM@": platform,
             "@DEVICE@": DEVICE_OF_PLATFORM.get(platform, platform), "@TABLE@": json.dumps(table, indent=4)}
    text = _INIT_TEMPLATE
    for key, value in fills.items():
        text = text.replace(key, value)
    return text


def export_run(run_dir: Path, *, out_dir: Path | None = None, min_speedup: float = 1.0) -> tuple[Path, list[Choice]]:
    """Exports a stored run (default: into <run_dir>/export) and returns the package dir and its choices."""
    from kernelevolve.eval.config import ShapeSetChoice, resolve_shape_set
    from kernelevolve.store.archive import open_archive
    from kernelevolve.tasks import load_task

    archive = open_archive(Path(run_dir))
    try:
        run = archive.meta.get_run(archive.run_id)
        nodes = [node for node, _, _ in archive.load_nodes()]
    finally:
        archive.close()
    config = json.loads(run["config_json"])
    task = load_task(config["task"]["path"] or config["task"]["name"])
    run_dir = Path(run_dir)
    shape_set = resolve_shape_set(ShapeSetChoice(config["eval"]["shape_set"]), run["platform"])
    choices = choose_kernels(nodes, shape_signatures(task, shape_set), platform=run["platform"],
                             min_speedup=min_speedup)
    package = export_package(task=task, nodes=nodes, choices=choices, out_dir=out_dir or run_dir / "export",
                             platform=run["platform"], run_id=run["id"])
    return package, choices
