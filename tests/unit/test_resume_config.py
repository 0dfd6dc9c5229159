"""A resumed run keeps its stored configuration; only budgets may change from the command line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from kernelevolve.config import Config, register_configs, resume_config, to_config
from kernelevolve.core.errors import ConfigError
from kernelevolve.search.config import SearchConfig

CONF = Path(__file__).resolve().parents[2] / "conf"


def _stored(**search):
    config = Config(search=SearchConfig(max_steps=12, stall=8, **search))
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, seed=7))
    config = dataclasses.replace(config, task=dataclasses.replace(config.task, name="mbdt"))
    return OmegaConf.to_container(OmegaConf.structured(config), resolve=True)


def _requested(**run):
    config = Config()
    return dataclasses.replace(config, run=dataclasses.replace(config.run, resume="r1", **run))


def test_stored_task_seed_and_budgets_win_over_defaults():
    config = resume_config(_stored(), _requested(), overrides=["run.resume=r1"])
    assert (config.task.name, config.run.seed, config.search.max_steps, config.search.stall) == ("mbdt", 7, 12, 8)
    assert config.run.resume == "r1"


def test_an_explicit_budget_override_applies():
    requested = dataclasses.replace(_requested(), search=SearchConfig(max_steps=40))
    config = resume_config(_stored(), requested, overrides=["run.resume=r1", "search.max_steps=40"])
    assert config.search.max_steps == 40 and config.search.stall == 8


def test_changing_the_task_or_seed_on_resume_is_refused_with_the_keys_named():
    requested = dataclasses.replace(_requested(seed=3), task=dataclasses.replace(Config().task, name="conv1d"))
    with pytest.raises(ConfigError, match=r"run.seed: 7 -> 3.*task.name: 'mbdt' -> 'conv1d'"):
        resume_config(_stored(), requested, overrides=["run.resume=r1", "task.name=conv1d", "run.seed=3"])


def test_where_a_served_model_runs_may_change_on_resume_but_not_which_model():
    llm = Config().llm
    where = dataclasses.replace(llm.serve, port=9000, keep=True)
    requested = dataclasses.replace(_requested(), llm=dataclasses.replace(llm, serve=where))
    config = resume_config(_stored(), requested, overrides=["llm.serve.port=9000", "llm.serve.keep=true"])
    assert (config.llm.serve.port, config.llm.serve.keep) == (9000, True)
    which = dataclasses.replace(llm.serve, model_source="other/weights")
    requested = dataclasses.replace(_requested(), llm=dataclasses.replace(llm, serve=which))
    with pytest.raises(ConfigError, match="llm.serve.model_source"):
        resume_config(_stored(), requested, overrides=["llm.serve.model_source=other/weights"])


def test_an_override_equal_to_the_stored_value_is_fine():
    requested = dataclasses.replace(_requested(), task=dataclasses.replace(Config().task, name="mbdt"))
    assert resume_config(_stored(), requested, overrides=["task.name=mbdt"]).task.name == "mbdt"


def _composed(overrides: list[str]) -> Config:
    """Returns the config the launcher would compose from these command-line overrides."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return to_config(compose(config_name="config", overrides=overrides))


def _stored_conv1d() -> dict:
    return OmegaConf.to_container(OmegaConf.structured(_composed(["+experiment=conv1d", "run.seed=7", "search.max_steps=30"])), resolve=True)


@pytest.mark.parametrize("override,change", [
    ("search=mcts", "search.policy: 'greedy' -> 'mcts' (search=mcts)"),
    ("task=map_id", "task.name: 'conv1d' -> 'map_id' (task=map_id)"),
    ("+experiment=map_id", "task.name: 'conv1d' -> 'map_id' (+experiment=map_id)"),
    ("platform=cuda", "platform.name: 'auto' -> 'cuda' (platform=cuda)"),
])
def test_a_group_choice_that_changes_the_run_is_refused_like_the_key(override, change):
    overrides = ["run.resume=r1", override]
    with pytest.raises(ConfigError) as info:
        resume_config(_stored_conv1d(), _composed(overrides), overrides=overrides)
    message = str(info.value)
    assert message.startswith(f"a resumed run keeps what it searches; these overrides would change it: {change}")
    assert "On resume only budgets and where the run executes may change (eval.timeout_s, " in message
    assert "a group choice (search=..., task=..., +experiment=...) changes every key of its group." in message


def test_a_group_choice_keeps_the_stored_budgets_and_a_cluster_choice_applies():
    overrides = ["run.resume=r1", "+experiment=conv1d", "cluster=ray", "search.stall=3"]
    config = resume_config(_stored_conv1d(), _composed(overrides), overrides=overrides)
    assert (config.search.max_steps, config.search.stall, config.run.seed) == (30, 3, 7), "the group sets 12"
    assert config.cluster.kind == "ray", "where the run executes may change on resume"
