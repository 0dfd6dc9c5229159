"""Captures the Triton code Inductor generates for a task's reference at the task's shapes (needs a GPU).

For each shape the reference is traced with its parameters and buffers as explicit inputs
(`make_fx` over `functional_call`, so the compiled graph's arguments are exactly [*parameters,
*tensor inputs] in a known order), then compiled by Inductor with max-autotune and Triton as the
only GEMM and convolution backend, so Inductor writes Triton templates where it would otherwise call
cuBLAS or cuDNN. What comes back per shape: the generated module's source, the launch configuration
each kernel's autotuner settled on (block sizes, num_warps, num_stages), the parameter names in
argument order and the output structure. `wrap.py` turns that into an ordinary candidate file.

Inductor cannot emit Triton without a GPU driver (torch's CPU build with cpu_backend="triton" fails with
"0 active drivers"), so on a CPU machine capture raises CaptureError and the seed chain uses a capture
file made on a GPU (`kernelevolve seed capture`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import platform as host_platform
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from kernelevolve.core.errors import KernelEvolveError
from kernelevolve.tasks import Task

logger = logging.getLogger(__name__)

CAPTURE_FORMAT = 1
# Inductor settings of a capture: Triton templates instead of cuBLAS/cuDNN calls, no caches (a cache hit skips
# the code we record), one flat `call` (graph partitions split it into functions we do not parse).
INDUCTOR_PATCHES: dict[str, Any] = {
    "max_autotune": True,
    "max_autotune_gemm_backends": "TRITON",
    "max_autotune_conv_backends": "TRITON",
    "fx_graph_cache": False,
    "autotune_local_cache": False,
    "graph_partition": False,
    "triton.cudagraphs": False,
}


class CaptureError(KernelEvolveError):
    """Inductor produced no capturable Triton code for a task (no GPU, a compile error, ...)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ShapeCapture:
    """What Inductor generated for one shape.

    Attributes:
        shape: the task's shape name.
        signature: one entry per forward input: [dims, dtype] for a tensor, repr(value) for anything else
            (non-tensor inputs are baked into the code).
        param_names: the reference's parameters then buffers, in the order the generated `call` takes them
            (before the tensor inputs).
        returns_tuple: whether the reference's forward returns a tuple/list rather than one tensor.
        code: the module Inductor wrote (kernel definitions plus `call(args)`).
        configs: kernel name -> {"kwargs": constexpr values, "num_warps": n, "num_stages": n}, as autotuned.
    """

    shape: str
    signature: list[Any]
    param_names: list[str]
    returns_tuple: bool
    code: str
    configs: dict[str, dict[str, Any]]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Capture:
    """A task's captures over its shapes, with where and with what they were made."""

    task: str
    shapes: list[ShapeCapture]
    versions: dict[str, str]
    device: str
    format: int = CAPTURE_FORMAT

    def to_json(self) -> str:
        """Returns the capture as JSON text (the file `kernelevolve seed capture` writes)."""
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Capture:
        """Returns a capture read back from its JSON text; raises CaptureError for another format."""
        data = json.loads(text)
        if data.get("format") != CAPTURE_FORMAT:
            raise CaptureError(f"capture format {data.get('format')!r} is not {CAPTURE_FORMAT}; capture the task again "
                               "with `kernelevolve seed capture`.")
        shapes = [ShapeCapture(**s) for s in data.pop("shapes")]
        return cls(shapes=shapes, **data)


def input_signature(inputs: list[Any]) -> list[Any]:
    """Returns the signature of forward inputs: [dims, dtype] per tensor, repr for other values."""
    return [[list(x.shape), str(x.dtype).removeprefix("torch.")] if isinstance(x, torch.Tensor) else repr(x)
            for x in inputs]


def capture_task(task: Task, device: str = "cuda") -> Capture:
    """Returns Inductor's Triton code for every shape of the task; raises CaptureError when there is none."""
    if not torch.cuda.is_available():
        raise CaptureError("no GPU: Inductor emits Triton only for a GPU device (this machine has none); capture "
                           "on a GPU with `kernelevolve seed capture TASK --out FILE` and pass the file.")
    shapes: list[ShapeCapture] = []
    seen: set[str] = set()
    for name in sorted(task.all_shape_names()):
        inputs = task.make_inputs(name, seed=0, device=device)
        key = json.dumps(input_signature(inputs))
        if key in seen:
            continue
        seen.add(key)
        shapes.append(_capture_shape(task, name, inputs, device))
    return Capture(task=task.name, shapes=shapes, device=torch.cuda.get_device_name(), versions=_versions())


def _versions() -> dict[str, str]:
    import triton

    return {"torch": torch.__version__, "triton": triton.__version__, "python": host_platform.python_version()}


@contextlib.contextmanager
def _ieee_fp32() -> Iterator[None]:
    """TF32 off while compiling: the templates bake ALLOW_TF32 in, and the judge's reference is IEEE fp32."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _capture_shape(task: Task, shape: str, inputs: list[Any], device: str) -> ShapeCapture:
    from torch._inductor import config as inductor_config
    from torch._inductor.compile_fx import compile_fx
    from torch._inductor.utils import run_and_get_code
    from torch.fx.experimental.proxy_tensor import make_fx

    torch.manual_seed(0)
    model = task.model_class(*task.make_init_inputs(shape)).to(device).eval()
    named = [*model.named_parameters(), *model.named_buffers()]
    names = [n for n, _ in named]
    state = [t.detach() for _, t in named]
    tensor_slots = [i for i, x in enumerate(inputs) if isinstance(x, torch.Tensor)]

    def functional(*flat: torch.Tensor) -> Any:
        args = list(inputs)
        for slot, value in zip(tensor_slots, flat[len(state):], strict=True):
            args[slot] = value
        return torch.func.functional_call(model, dict(zip(names, flat[:len(state)], strict=True)), tuple(args))

    flat = [*state, *(inputs[i] for i in tensor_slots)]
    with torch.no_grad(), _ieee_fp32():
        expected = model(*inputs)
        graph = make_fx(functional)(*flat)
        before = set(map(id, _loaded_modules()))
        try:
            with inductor_config.patch(INDUCTOR_PATCHES):
                out, codes = run_and_get_code(lambda: compile_fx(graph, flat)(*flat))
        except Exception as exc:  # boundary: Inductor's failure (no template fits an op, ...) is the step's reason
            raise CaptureError(compile_failure(exc, shape)) from exc
    if not codes:
        raise CaptureError(f"Inductor wrote no code for shape {shape}")
    _check_output(expected, out, shape)
    configs = _chosen_configs([m for m in _loaded_modules() if id(m) not in before])
    return ShapeCapture(shape=shape, signature=input_signature(inputs), param_names=names,
                        returns_tuple=isinstance(expected, tuple | list), code=codes[-1], configs=configs)


def compile_failure(exc: BaseException, shape: str) -> str:
    """Returns one line saying why Inductor could not compile a shape, naming the op it could not lower.

    Inductor's lowering errors carry the op on a later line (`  target: aten.convolution.default`) under a first
    line like "LoweringException: NoValidChoicesError: No choices to select..."; that error means Inductor has
    no Triton template for the op (a transposed convolution, say) and only cuBLAS/cuDNN (the ATEN backend, which a
    capture leaves out) could run it.
    """
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    target = re.search(r"^\s*target: (\S+)", text, re.MULTILINE)
    where = f" at {target.group(1)}" if target else ""
    why = (" (Inductor has no Triton template for this op; only cuBLAS/cuDNN, which the wrapper does not call, "
           "could run it)") if "NoValidChoicesError" in text else ""
    return f"Inductor could not compile shape {shape} with Triton-only backends{where}{why}: {type(exc).__name__}: {first}"


def _check_output(expected: Any, got: Any, shape: str) -> None:
    want = list(expected) if isinstance(expected, tuple | list) else [expected]
    have = list(got) if isinstance(got, tuple | list) else [got]
    if len(want) != len(have) or not all(torch.allclose(w, h, atol=1e-3, rtol=1e-3) for w, h in zip(want, have, strict=True)):
        raise CaptureError(f"Inductor's compiled graph disagrees with the reference at shape {shape}; not a seed.")


def _loaded_modules() -> list[Any]:
    from torch._inductor.codecache import PyCodeCache

    return [*PyCodeCache.modules, *getattr(PyCodeCache, "modules_no_attr", {}).values()]


def _chosen_configs(modules: list[Any]) -> dict[str, dict[str, Any]]:
    """Returns kernel name -> the launch config its autotuner kept (kwargs, num_warps, num_stages)."""
    found: dict[str, dict[str, Any]] = {}
    for module in modules:
        for name, value in vars(module).items():
            launchers = getattr(value, "launchers", None)
            configs = getattr(value, "configs", None)
            if launchers:
                cfg = launchers[0].config
            elif configs:
                cfg = configs[0]
            else:
                continue
            found[name] = {"kwargs": {k: v for k, v in dict(cfg.kwargs).items() if isinstance(v, int | bool)},
                           "num_warps": int(cfg.num_warps), "num_stages": int(cfg.num_stages)}
    return found


def write_capture(capture: Capture, path: Path) -> Path:
    """Writes the capture as JSON; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(capture.to_json())
    return path
