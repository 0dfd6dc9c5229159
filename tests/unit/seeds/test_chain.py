"""The seed chain: sample, then a captured Inductor seed, then an LLM draft (tests/unit/seeds/test_draft.py); the
search that starts from a captured seed runs in tests/unit/suite/test_suite.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelevolve.core.errors import ConfigError
from kernelevolve.seeds.chain import ORIGIN_INDUCTOR, inductor_seed, resolve_seed
from kernelevolve.tasks import load_task

KB = Path(__file__).resolve().parents[2] / "assets" / "kernelbench"


def test_with_no_seed_anywhere_each_step_says_why_in_one_line(tmp_path):
    task = load_task(str(KB / "level1" / "2_leaky_relu.py"))
    with pytest.raises(ConfigError) as info:
        resolve_seed(task, sample=tmp_path / "seed.py", capture_path=str(tmp_path), platform="cpu", draft=None)
    lines = str(info.value).splitlines()
    assert lines[0] == "no seed kernel for task 2_leaky_relu:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["sample", "inductor", "llm"]
    assert "2_leaky_relu.json" in lines[2] and "kernelevolve seed capture" in lines[2]


def test_the_inductor_step_reads_the_task_capture_from_a_directory(tmp_path):
    task = load_task(str(KB / "level1" / "2_leaky_relu.py"))
    found = resolve_seed(task, sample=tmp_path / "seed.py", capture_path=str(KB / "captured"), platform="cpu",
                         draft=None)
    assert found.candidate.origin == ORIGIN_INDUCTOR and found.failure is None and not found.llm_calls
    assert found.candidate.source == inductor_seed(task, str(KB / "captured" / "2_leaky_relu.json"), "cpu").source
    assert "H100" in found.candidate.note
