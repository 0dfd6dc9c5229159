"""mtia: Meta's accelerator as a named resource and plug-in (torch.mtia; Triton's MTIA backend).

This plug-in is the documented interface, not a tested backend: no MTIA is reachable from this project.
It needs a torch build with torch.mtia (device "mtia"), Triton's MTIA backend, and launch hooks like
CUDA's. Ray schedules it through the custom resource "MTIA" (a counter only: the evaluator actor must
pick its device itself). Timing uses device synchronization around wall clock until torch.mtia.Event
timing is available, and is labelled so.
"""

from __future__ import annotations

import torch

from kernelevolve.core.errors import ConfigError
from kernelevolve.eval.protocols import Timer
from kernelevolve.eval.timing import EventTimer, WallClockTimer


class MtiaPlatform:
    """MTIA through torch.mtia; fails loud when the build has no MTIA support."""

    name = "mtia"
    interpreter = False
    memory_rlimit = False

    def worker_env(self) -> dict[str, str]:
        """Returns nothing extra."""
        return {}

    def _module(self):  # noqa: ANN202 - torch.mtia has no public type
        mtia = getattr(torch, "mtia", None)
        if mtia is None or not mtia.is_available():
            raise ConfigError("platform mtia: this torch build sees no MTIA device; use cpu or cuda.")
        return mtia

    def device(self) -> torch.device:
        """Returns the first MTIA device."""
        self._module()
        return torch.device("mtia", 0)

    def synchronize(self) -> None:
        """Waits for the device."""
        self._module().synchronize()

    def poison_allocator(self) -> None:
        """Fills a large free block with NaN (the allocator reuses it for the candidate's outputs)."""
        block = torch.full((2**26,), float("nan"), device=self.device())
        self.synchronize()
        del block

    def make_timer(self, *, warmup_ms: float, rep_ms: float, reps: int, flush_mb: float) -> Timer:
        """Returns an event timer when torch.mtia.Event times, else a synchronized wall-clock timer."""
        mtia = self._module()
        if hasattr(mtia, "Event"):
            return EventTimer(device_module=mtia, warmup_ms=warmup_ms, rep_ms=rep_ms, flush_mb=flush_mb,
                              device=self.device())
        return WallClockTimer(reps=max(reps, 20), synchronize=self.synchronize, label="mtia_wall_clock")

    def current_stream(self) -> int | None:
        """Stream identity is not exposed uniformly on MTIA; side-stream checks are off."""
        return None
