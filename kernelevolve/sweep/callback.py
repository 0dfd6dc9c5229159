"""The sweep page of a local Hydra multirun (`python -m kernelevolve.launch -m ... search=greedy,mcts`).

conf/config.yaml registers this callback; it is idle in a single run. After each point it rewrites
`<hydra.sweep.dir>/index.html` (default sweeps/<time>/), so the page fills in as the sweep goes on.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from kernelevolve.sweep.page import SweepPoint, write_sweep
from kernelevolve.sweep.summary import summarize

logger = logging.getLogger(__name__)


def point_of(job_return: JobReturn, name: str) -> SweepPoint:
    """Returns the sweep point of one finished job (its launch's Launched, or the exception it raised)."""
    overrides = list(job_return.overrides or [])
    if job_return.status is not JobStatus.COMPLETED:
        return SweepPoint(name=name, overrides=overrides, status="FAILED", summary=None, report=None,
                          message=f"raised {job_return._return_value!r}"[:300])
    launched = job_return.return_value
    run_dir = getattr(launched, "run_dir", None)
    has_run = run_dir is not None and (Path(run_dir) / "meta.db").is_file()
    report = Path(run_dir) / "report.html" if has_run else None
    return SweepPoint(name=getattr(launched, "run_id", None) or name, overrides=overrides,
                      status="SUCCEEDED" if launched.code == 0 else "FAILED",
                      summary=summarize(Path(run_dir)) if has_run else None,
                      report=str(report.resolve()) if report is not None and report.is_file() else None,
                      message=launched.message)


class SweepPageCallback(Callback):
    """Collects the points of a multirun and writes its sweep page after each one."""

    def __init__(self) -> None:
        self.points: list[SweepPoint] = []

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        hydra_cfg = job_return.hydra_cfg.hydra if job_return.hydra_cfg is not None else None
        if hydra_cfg is None or not str(hydra_cfg.get("mode")).endswith("MULTIRUN"):  # RunMode.MULTIRUN
            return
        sweep_dir = Path(hydra_cfg.sweep.dir)
        self.points.append(point_of(job_return, f"{sweep_dir.name}-{hydra_cfg.job.num}"))
        page = write_sweep(sweep_dir, sweep_dir.name, self.points)
        logger.info("sweep page updated: %s", page)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.points:
            sys.stderr.write(f"sweep page: {Path(config.hydra.sweep.dir) / 'index.html'}\n")
