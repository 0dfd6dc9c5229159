"""cluster/submit_sweep.py: a Hydra sweep expands into one checked job per point, without running it."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from kernelevolve.core.errors import ConfigError

PATH = Path(__file__).resolve().parents[2] / "cluster" / "submit_sweep.py"
spec = importlib.util.spec_from_file_location("submit_sweep", PATH)
submit_sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(submit_sweep)


def test_a_sweep_expands_to_the_cartesian_product_in_order():
    points = submit_sweep.expand_sweep(["+experiment=conv1d", "search.max_steps=4,8", "search.policy=greedy,mcts"])
    assert points == [["+experiment=conv1d", "search.max_steps=4", "search.policy=greedy"],
                      ["+experiment=conv1d", "search.max_steps=4", "search.policy=mcts"],
                      ["+experiment=conv1d", "search.max_steps=8", "search.policy=greedy"],
                      ["+experiment=conv1d", "search.max_steps=8", "search.policy=mcts"]]


def test_each_job_joins_its_cluster_with_its_own_run_id_and_store():
    command = submit_sweep.entrypoint(["+experiment=conv1d", "search.max_steps=4"], "s-1", "/data/runs")
    assert shlex.split(command) == ["python", "-m", "kernelevolve.launch", "cluster=ray", "cluster.address=auto",
                                    "run.id=s-1", "store.root=/data/runs", "+experiment=conv1d", "search.max_steps=4"]


def test_a_misspelt_key_fails_before_anything_is_submitted(capsys):
    with pytest.raises((ConfigError, ConfigCompositionException), match="max_stepz"):
        submit_sweep.main(["--dry-run", "+experiment=conv1d", "search.max_stepz=4,8"])
    assert capsys.readouterr().out == ""


def test_dry_run_lists_every_job(capsys):
    assert submit_sweep.main(["--dry-run", "--name", "s", "+experiment=conv1d", "search.max_steps=4,8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["s-0", "s-1"]


def test_the_token_comes_from_the_environment_when_not_given(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_AUTH_TOKEN", "abc")
    assert submit_sweep.read_token(None) == "abc"
    assert submit_sweep.read_token("explicit") == "explicit"
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    assert submit_sweep.read_token(None) is None
