"""prepare_run: everything a user can get wrong is refused before the run directory exists; resume finds
the run by id or path and keeps the platform it ran on. run_lifecycle: how a run's end is recorded."""

from __future__ import annotations

import json

import pytest

from kernelevolve.config import Config, PlatformConfig, PlatformName, RunConfig, TaskConfig
from kernelevolve.controller import Outcome
from kernelevolve.core.errors import KernelEvolveError
from kernelevolve.llm.config import LLMBackend, LLMConfig
from kernelevolve.runner import Run, prepare_run, run_lifecycle
from kernelevolve.search.config import SearchConfig
from kernelevolve.search.graph import Graph
from kernelevolve.search.termination import Progress, StopReason
from kernelevolve.store.archive import Archive
from kernelevolve.store.config import StoreConfig
from kernelevolve.tasks import load_task
from tests.fakes import FakeOperator
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


class SearchBroke(Exception):
    """Stands for anything that ends a search early: a crash, Ctrl-C, a lost cluster."""


def _lifecycle_run(tmp_path, *, resumed: bool) -> Run:
    if resumed:
        make_run(tmp_path, "r1", nodes=3)  # a stored run of 3 nodes, row left `finished`
    archive = Archive(tmp_path / "r1", "r1", task="conv1d", platform="cpu")
    if not resumed:
        archive.start(config={}, versions={}, host="test")
    return Run(config=Config(), run_id="r1", run_dir=tmp_path / "r1", task=load_task("conv1d"), platform="cpu",
               archive=archive, operator=FakeOperator(), resumed=resumed)


def test_a_search_that_raises_is_recorded_interrupted_with_the_counters_it_reached(tmp_path):
    run = _lifecycle_run(tmp_path, resumed=False)
    with pytest.raises(SearchBroke), run_lifecycle(run, None) as life:
        life.progress = Progress(evaluated=7, failures=2, dollars=0.25)  # what a remote controller last reported
        raise SearchBroke
    row = run.archive.meta.get_run("r1")
    assert (row["status"], row["stop_reason"]) == ("interrupted", None)
    assert json.loads(row["progress_json"])["evaluated"] == 7


def test_a_search_that_ends_is_recorded_finished_with_its_stop_reason_and_final_counters(tmp_path):
    run = _lifecycle_run(tmp_path, resumed=False)
    with run_lifecycle(run, None) as life:
        assert (list(life.graph.nodes()), life.seeds) == ([], [])
        life.outcome = Outcome(stop_reason=StopReason.STALL, best=None, progress=Progress(evaluated=11), graph=Graph())
    row = run.archive.meta.get_run("r1")
    assert (row["status"], row["stop_reason"]) == ("finished", "stall")
    assert json.loads(row["progress_json"])["evaluated"] == 11


def test_a_resumed_run_is_running_again_from_its_stored_graph_until_it_ends(tmp_path):
    run = _lifecycle_run(tmp_path, resumed=True)
    with pytest.raises(SearchBroke), run_lifecycle(run, None) as life:
        assert run.archive.meta.get_run("r1")["status"] == "running"
        assert [n.id for n in life.graph.nodes()] == [0, 1, 2]
        raise SearchBroke
    assert run.archive.meta.get_run("r1")["status"] == "interrupted"
