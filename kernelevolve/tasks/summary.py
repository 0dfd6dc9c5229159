"""One-line summaries of task inputs and outputs (shape, dtype, range) for `kernelevolve task check`."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch


@dataclasses.dataclass(frozen=True, kw_only=True)
class TensorSummary:
    """Shape, dtype and value range of one tensor, or the type and value of a Python scalar input."""

    shape: tuple[int, ...]
    dtype: str
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    value: Any = None  # Python scalar inputs only

    def describe(self) -> str:
        """Returns e.g. "float16[1024, 24, 224] range [-0.5, 0.51] mean 0.0003" or "int = 200"."""
        if self.value is not None:
            return f"{self.dtype} = {self.value}"
        text = f"{self.dtype}[{', '.join(map(str, self.shape))}]"
        if self.min is not None:
            text += f" range [{self.min:.4g}, {self.max:.4g}] mean {self.mean:.4g}"
        return text


def summarize(value: Any) -> TensorSummary:
    """Returns the summary of a tensor (stats skipped when empty) or of a Python scalar."""
    if not isinstance(value, torch.Tensor):
        return TensorSummary(shape=(), dtype=type(value).__name__, value=value)
    dtype = str(value.dtype).removeprefix("torch.")
    if value.numel() == 0 or value.is_complex():
        return TensorSummary(shape=tuple(value.shape), dtype=dtype)
    as_float = value.double() if value.is_floating_point() else value
    return TensorSummary(shape=tuple(value.shape), dtype=dtype, min=float(as_float.min()), max=float(as_float.max()),
                         mean=float(value.double().mean()))
