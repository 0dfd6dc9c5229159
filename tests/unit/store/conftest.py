"""Stored runs for the store's CLI tests: a real Archive with enough nodes to span many SQLite pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from kernelevolve import cli
from kernelevolve.config import Config, PlatformConfig, PlatformName, TaskConfig
from kernelevolve.core.types import Candidate, Node
from kernelevolve.store.archive import Archive


def make_run(root: Path, run_id: str, *, task: str = "conv1d", nodes: int = 3, note_chars: int = 10) -> Path:
    """Stores a run with `nodes` nodes (a chain from one root) under root/run_id; returns its directory."""
    archive = Archive(root / run_id, run_id, task=task, platform="cpu")
    config = Config(task=TaskConfig(name=task), platform=PlatformConfig(name=PlatformName.cpu))
    archive.start(config=OmegaConf.to_container(OmegaConf.structured(config), resolve=True), versions={}, host="test")
    archive.add_roots([Node(id=i, parent_id=None if i == 0 else i - 1,
                            candidate=Candidate(source=f"x = {i}\n", parent_id=None, origin="t",
                                                note=f"node {i} " + "n" * note_chars))
                       for i in range(nodes)])
    archive.meta.finish_run(run_id, status="finished", stop_reason="max_steps", progress={"evaluated": nodes})
    archive.close()
    return root / run_id


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Runs `kernelevolve ARGV` in-process; returns (exit code, stdout, stderr)."""
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
