"""cuda and rocm: one code path (HIP builds of torch expose the same torch.cuda API)."""

from __future__ import annotations

import logging

import torch

from kernelevolve.eval.protocols import Timer
from kernelevolve.eval.timing import EventTimer

logger = logging.getLogger(__name__)

POISON_MAX_BYTES = 4 * 2**30  # enough to cover every block the candidate's first allocations reuse


class CudaPlatform:
    """NVIDIA (name "cuda") or AMD (name "rocm") GPUs through torch.cuda and Triton's launch hooks."""

    interpreter = False
    memory_rlimit = False  # RLIMIT_AS breaks the CUDA/HIP driver's address-space reservations

    def __init__(self, name: str = "cuda") -> None:
        self.name = name

    def worker_env(self) -> dict[str, str]:
        """Returns in-process compilation for torch.compile baselines (no pool of compile subprocesses)."""
        return {"TORCHINDUCTOR_COMPILE_THREADS": "1"}

    def device(self) -> torch.device:
        """Returns the worker's device (the first visible one)."""
        return torch.device("cuda", 0)

    def synchronize(self) -> None:
        """Waits for all streams of the device."""
        torch.cuda.synchronize()

    def poison_allocator(self) -> None:
        """Fills the caching allocator's free blocks with NaN so a stale torch.empty result fails."""
        free, _ = torch.cuda.mem_get_info()
        numel = min(POISON_MAX_BYTES, free // 4) // 4
        block = torch.full((numel,), float("nan"), device=self.device())
        small = [torch.full((2**18,), float("nan"), device=self.device()) for _ in range(16)]  # small pool
        torch.cuda.synchronize()
        del block, small

    def make_timer(self, *, warmup_ms: float, rep_ms: float, reps: int, flush_mb: float) -> Timer:
        """Returns an event timer with an L2 flush buffer of flush_mb MiB."""
        return EventTimer(device_module=torch.cuda, warmup_ms=warmup_ms, rep_ms=rep_ms, flush_mb=flush_mb,
                          device=self.device())

    def current_stream(self) -> int | None:
        """Returns the handle of the current stream (launches elsewhere are side-stream launches)."""
        return int(torch.cuda.current_stream().cuda_stream)
