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


def test_a_local_search_keeps_enough_in_flight_to_feed_its_judges_and_compile_workers(capsys):
    """Like a Ray run, cluster=local raises search.concurrency so each evaluation slot (a judge, or a compile worker
    ahead of the judges) has cluster.expansions_per_slot candidates behind it, and says so; never from 1."""
    import dataclasses

    from kernelevolve.config import Config

    def config(concurrency: int, per_slot: float = 1.0) -> Config:
        base = Config()
        return dataclasses.replace(base, search=dataclasses.replace(base.search, concurrency=concurrency),
                                   cluster=dataclasses.replace(base.cluster, expansions_per_slot=per_slot))

    assert launch._local_in_flight(config(8), slots=8) == 16  # 2 judges + 6 compile workers on the H100 host
    assert "in flight: 16 (search.concurrency=8 raised so each of 8 evaluation slots" in capsys.readouterr().out
    assert launch._local_in_flight(config(2), slots=1) == 2  # the interpreter's one judge: already fed
    assert launch._local_in_flight(config(40), slots=8) == 40  # the configured value is a floor
    assert launch._local_in_flight(config(8, per_slot=0), slots=8) == 8  # 0 keeps search.concurrency
    assert launch._local_in_flight(config(1), slots=1) == 1  # one at a time stays reproducible
    assert capsys.readouterr().out == ""
