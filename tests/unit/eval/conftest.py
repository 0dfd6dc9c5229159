"""Fixtures for the judge's tests: tiny-shape cpu evaluators shared per module (workers start in ~2 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eval_helpers import FAST, SHORT, TASKS

from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.tasks.loader import load_task


@pytest.fixture(scope="module")
def evaluators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Evaluator]]:
    """Returns one cpu Evaluator per test task (closed after the module)."""
    found = {name: Evaluator(load_task(spec), platform="cpu", config=FAST,
                             workdir=tmp_path_factory.mktemp(f"eval_{name}"))
             for name, spec in TASKS.items()}
    found["conv1d_short_timeout"] = Evaluator(load_task("conv1d"), platform="cpu", config=SHORT,
                                              workdir=tmp_path_factory.mktemp("eval_short"))
    yield found
    for evaluator in found.values():
        evaluator.close()
