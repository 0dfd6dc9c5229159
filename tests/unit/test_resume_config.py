"""A resumed run keeps its stored configuration; only budgets may change from the command line."""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf

from kernelevolve.config import Config, resume_config
from kernelevolve.core.errors import ConfigError
from kernelevolve.search.config import SearchConfig


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


def test_an_override_equal_to_the_stored_value_is_fine():
    requested = dataclasses.replace(_requested(), task=dataclasses.replace(Config().task, name="mbdt"))
    assert resume_config(_stored(), requested, overrides=["task.name=mbdt"]).task.name == "mbdt"
