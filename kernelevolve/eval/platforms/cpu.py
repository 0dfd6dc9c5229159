"""cpu: Triton's interpreter (TRITON_INTERPRET=1). Correctness is real; timings are interpreter wall clock."""

from __future__ import annotations

import torch

from kernelevolve.eval.protocols import Timer
from kernelevolve.eval.timing import WallClockTimer


class CpuPlatform:
    """Runs candidates under the Triton interpreter on the host; the only platform tests can rely on."""

    name = "cpu"
    interpreter = True
    memory_rlimit = True

    def worker_env(self) -> dict[str, str]:
        """Returns the interpreter switch (it must be set before triton is imported)."""
        return {"TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}

    def device(self) -> torch.device:
        """Returns the host device."""
        return torch.device("cpu")

    def synchronize(self) -> None:
        """Host work is synchronous."""

    def poison_allocator(self) -> None:
        """Fills freed heap chunks with NaN so recycled host memory is not silently zero or stale-correct."""
        for numel in (64, 1024, 16384):
            junk = [torch.full((numel,), float("nan")) for _ in range(8)]
            del junk

    def make_timer(self, *, warmup_ms: float, rep_ms: float, reps: int, flush_mb: float) -> Timer:
        """Returns a wall-clock timer (interpreter time: ranks candidates of one run, never a speedup claim)."""
        return WallClockTimer(reps=reps, synchronize=self.synchronize)

    def current_stream(self) -> int | None:
        """The host has no streams."""
        return None
