"""prepare_run: everything a user can get wrong is refused before the run directory exists; resume finds
the run by id or path and keeps the platform it ran on."""

from __future__ import annotations

import pytest

from kernelevolve.config import Config, PlatformConfig, PlatformName, RunConfig, TaskConfig
from kernelevolve.core.errors import KernelEvolveError
from kernelevolve.llm.config import LLMBackend, LLMConfig
from kernelevolve.runner import prepare_run
from kernelevolve.search.config import SearchConfig
from kernelevolve.store.config import StoreConfig
from tests.unit.store.conftest import make_run


def _config(tmp_path, **fields) -> Config:
    fields.setdefault("platform", PlatformConfig(name=PlatformName.cpu))
    return Config(store=StoreConfig(root=str(tmp_path / "runs")), llm=LLMConfig(backend=LLMBackend.offline),
                  **fields)


def test_a_warm_start_from_an_unknown_run_is_refused_before_the_run_directory_exists(tmp_path):
    with pytest.raises(KernelEvolveError, match=r"^search.seed_from='nope': no run with that id"):
        prepare_run(_config(tmp_path, search=SearchConfig(seed_from="nope")))
    assert not (tmp_path / "runs").exists()


def test_a_task_that_fails_its_check_is_refused_before_the_run_directory_exists(tmp_path):
    task = tmp_path / "broken.py"
    task.write_text("import torch\nfrom torch import nn\nclass Model(nn.Module):\n    def forward(self, x):\n"
                    "        return torch.randn_like(x)\ndef get_inputs():\n    return [torch.ones(4)]\n")
    with pytest.raises(KernelEvolveError, match="the reference is nondeterministic"):
        prepare_run(_config(tmp_path, task=TaskConfig(path=str(task))))
    assert not (tmp_path / "runs").exists()


def test_resume_by_run_directory_keeps_the_platform_the_run_resolved_to(tmp_path):
    run_dir = make_run(tmp_path / "elsewhere", "r1")  # stored config: platform cpu, as the run row says
    requested = _config(tmp_path, run=RunConfig(resume=str(run_dir)),
                        platform=PlatformConfig(name=PlatformName.auto))
    run = prepare_run(requested, overrides=[f"run.resume={run_dir}"])
    try:
        assert (run.run_id, run.run_dir, run.resumed, run.platform) == ("r1", run_dir, True, "cpu")
        assert run.config.store.root == str(run_dir.parent) and run.config.platform.name == "cpu"
    finally:
        run.archive.close()


def test_resume_refuses_a_platform_choice_other_than_the_stored_one(tmp_path):
    make_run(tmp_path / "runs", "r1")
    requested = _config(tmp_path, run=RunConfig(resume="r1"), platform=PlatformConfig(name=PlatformName.cuda))
    with pytest.raises(KernelEvolveError, match=r"platform.name: 'cpu' -> 'cuda' \(platform=cuda\)"):
        prepare_run(requested, overrides=["run.resume=r1", "platform=cuda"])
