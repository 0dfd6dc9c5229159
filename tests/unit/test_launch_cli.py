"""`python -m kernelevolve.launch` refuses what cannot compose in one line, before Hydra runs anything."""

from __future__ import annotations

import pytest

from kernelevolve import launch
from kernelevolve.config import ClusterConfig
from kernelevolve.core.errors import ConfigError
from tests.unit.store.conftest import run_cli


def test_a_value_of_the_wrong_type_is_one_line(capsys):
    assert launch.run_cli(["+experiment=conv1d", "search.max_steps=abc"]) == 2
    assert capsys.readouterr().err == (
        "error: Error merging override search.max_steps=abc: Value 'abc' of type 'str' could not be converted to "
        "Integer; `python -m kernelevolve.launch --cfg job` prints every key with its value.\n")


def test_an_enum_value_that_does_not_exist_lists_the_choices(capsys):
    assert launch.run_cli(["search.policy=greedyy", "-v"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback"), "-v adds the traceback"
    assert err.endswith("error: Error merging override search.policy=greedyy: Invalid value 'greedyy', expected one "
                        "of [greedy, mcts, evolutionary]; `python -m kernelevolve.launch --cfg job` prints every key "
                        "with its value.\n")


def test_a_cluster_address_with_no_cluster_is_a_config_error_naming_the_fix(monkeypatch):
    ray = pytest.importorskip("ray")
    from actors import placement

    def no_cluster(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(ray, "init", no_cluster)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(ConfigError) as info:
        placement.connect(ClusterConfig(address="auto"))
    assert str(info.value) == (
        "cluster.address=auto: no Ray cluster is reachable (Could not find any running Ray instance.); start one "
        "with `ray start --head` or give a running one's address (auto, ray://<head>:10001), or leave "
        "cluster.address unset to start a local Ray instance.")


def test_a_missing_candidate_file_is_a_usage_error(tmp_path, capsys):
    code, out, err = run_cli(["eval", "conv1d", str(tmp_path / "missing.py")], capsys)
    assert code == 2
    assert f"error: {tmp_path / 'missing.py'}: no such candidate file" in out + err
