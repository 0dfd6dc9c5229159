"""Shared helpers of the Ray tests (each module starts one Ray instance in a module-scoped fixture)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from kernelevolve.config import ClusterConfig, ClusterKind, Config, PlatformConfig, PlatformName, RunConfig
from kernelevolve.runner import Run
from kernelevolve.search.config import SearchConfig
from kernelevolve.store.archive import Archive
from kernelevolve.store.config import StoreConfig
from kernelevolve.tasks import load_task
from tests.fakes import FakeOperator
from tests.ray.fakes_ray import MarkingJudge, MarkingOperator

ROOT = Path(__file__).resolve().parents[2]
WORKER_ENV = {"env_vars": {"PYTHONPATH": str(ROOT)}}  # workers import tests.ray.fakes_ray


def make_run(tmp_path: Path, *, search: dict, cluster: dict, **sections: Any) -> Run:
    """Returns a new cpu-platform run (store under tmp_path) whose operator and judge the test injects
    (or that `sections`, e.g. llm=LLMConfig(...), configure)."""
    config = Config(run=RunConfig(id="r1", seed=3), platform=PlatformConfig(name=PlatformName.cpu),
                    store=StoreConfig(root=str(tmp_path / "runs")), search=SearchConfig(**search),
                    cluster=ClusterConfig(kind=ClusterKind.ray, **cluster), **sections)
    run_dir = tmp_path / "runs" / "r1"
    archive = Archive(run_dir, "r1", task="conv1d", platform="cpu")
    archive.start(config={}, versions={}, host="test")
    return Run(config=config, run_id="r1", run_dir=run_dir, task=load_task("conv1d"), platform="cpu",
               archive=archive, operator=FakeOperator(), resumed=False)


@pytest.fixture
def markers(tmp_path):
    folder = tmp_path / "marks"
    folder.mkdir()
    return folder


def fakes(folder: Path, *, eval_s: float, expand_s: float, broken_gpu: str | None = None):
    """Returns (judge_factory, operator_factory) building marking fakes in each actor."""
    return (functools.partial(MarkingJudge, str(folder), eval_s, broken_gpu),
            functools.partial(MarkingOperator, str(folder), expand_s))


def cluster_stats(run) -> dict:
    """Returns what the driver stored about the fleet at the end of the run."""
    return json.loads((run.run_dir / "objects" / "cluster_stats.json").read_text())
