"""The text of a wrapped seed: docstring, imports, tunables, kernels, launchers, the launch sequences, ModelNew."""

from __future__ import annotations

import textwrap

from kernelevolve.seeds.capture import Capture
from kernelevolve.seeds.limits import MAX_Y_GRID
from kernelevolve.seeds.protocols import Parts


def render_module(capture: Capture, out: Parts, dispatch: list[str], params: list[str], returns_tuple: bool,
                  reference_source: str, model_name: str, imports: list[str], kernels: str) -> str:
    """Returns the seed module's source."""
    versions = ", ".join(f"{k} {v}" for k, v in sorted(capture.versions.items()))
    space = "\n".join(f"    {k!r}: {v!r}," for k, v in out.space.items())
    reference = _reference_block(reference_source) if params else ""
    init = (f"        self.reference = {model_name}(*args, **kwargs)  # same draws as the judge's Model: same parameters\n"
            if params else "")
    param_list = "[_state_tensor(self.reference, n) for n in _STATE]" if params else "[]"
    result = "out" if returns_tuple else "out[0]"
    return f'''"""Seed for {capture.task}: the Triton code Inductor generated for the reference at the task's shapes.

Captured by `kernelevolve seed capture` on {capture.device} ({versions}), with max-autotune and Triton as the only
GEMM/convolution backend, then wrapped: plain @triton.jit kernels, one launcher per kernel (grid from the
tunables below), and ModelNew running Inductor's launch sequence. Memory traffic is Inductor's fusion plan:
each kernel reads its inputs and writes its outputs once.
"""

import os

import torch
import triton
import triton.language as tl
from torch import nn

{chr(10).join(imports)}

# Tunables: the offline operator rewrites these assignments, choosing values from TUNABLE_SPACE.
{chr(10).join(out.tunables)}
TUNABLE_SPACE = {{
{space}
}}


{kernels}


{(chr(10) * 2).join(out.launchers)}

def _reinterpret(t, size, stride, offset):
    """Returns a view of t's storage (Inductor's reinterpret_tensor: the offset is relative to t's)."""
    return t.as_strided(size, stride, t.storage_offset() + offset)


def _y_spill(ynumel, yblock):
    """Returns the z extent of a Grid2DWithYZOverflow launch: how many y-grid limits ({MAX_Y_GRID}) its y blocks need."""
    return max(1, triton.cdiv(triton.cdiv(ynumel, yblock), {MAX_Y_GRID}))


{(chr(10) * 3).join(out.calls)}


_CALLS = {{  # input signature (shape, dtype per tensor) -> the captured launch sequence
{chr(10).join(dispatch)}
}}
_STATE = {params!r}  # parameters and buffers, in the order the launch sequence takes them


def _state_tensor(module, name):
    """Returns the parameter or buffer called name (dotted) of module."""
    try:
        return module.get_parameter(name)
    except AttributeError:
        return module.get_buffer(name)
{reference}

class ModelNew(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
{init}
    def forward(self, *inputs):
        tensors = [x for x in inputs if isinstance(x, torch.Tensor)]
        key = tuple((tuple(x.shape), str(x.dtype).removeprefix("torch.")) if isinstance(x, torch.Tensor) else repr(x)
                    for x in inputs)
        call = _CALLS.get(key)
        if call is None:
            raise ValueError(f"no captured kernels for inputs {{key}}; captured: {{list(_CALLS)}}")
        state = {param_list}
        out = call([*state, *tensors], tensors[0].device)
        return {result}
'''


def _reference_block(source: str) -> str:
    """Returns the task's source (its Model builds the parameters), without a __future__ import (file top only)."""
    kept = "\n".join(line for line in source.splitlines() if not line.startswith("from __future__"))
    return ("\n\n# ---- The reference module, kept for its constructor and parameters only (ModelNew never calls its "
            "forward) ----\n" + textwrap.dedent(kept) + "\n# ---- end of the reference module ----\n")
