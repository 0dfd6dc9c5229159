"""Platform plug-ins, one file each; `get_platform(name)` returns an instance for a resolved name."""

from __future__ import annotations

from kernelevolve.core.errors import ConfigError
from kernelevolve.eval.protocols import Platform

PLATFORM_NAMES = ("cpu", "cuda", "rocm", "mtia")


def get_platform(name: str) -> Platform:
    """Returns the Platform for "cpu", "cuda", "rocm" or "mtia"; raises ConfigError for anything else."""
    if name == "cpu":
        from kernelevolve.eval.platforms.cpu import CpuPlatform

        return CpuPlatform()
    if name in ("cuda", "rocm"):
        from kernelevolve.eval.platforms.cuda import CudaPlatform

        return CudaPlatform(name=name)
    if name == "mtia":
        from kernelevolve.eval.platforms.mtia import MtiaPlatform

        return MtiaPlatform()
    raise ConfigError(f"unknown platform {name!r}; expected one of {PLATFORM_NAMES} (resolve 'auto' first).")


def resolve_platform(name: str) -> str:
    """Returns `name`, or for "auto" cuda/rocm when torch sees a GPU and cpu otherwise."""
    if name != "auto":
        get_platform(name)
        return name
    import torch

    if torch.cuda.is_available():
        return "rocm" if getattr(torch.version, "hip", None) else "cuda"
    return "cpu"
