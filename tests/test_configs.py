"""Every YAML in conf/ composes into a typed Config, and a misspelt key is an error (STYLE R38)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from kernelevolve.config import Config, register_configs, to_config
from kernelevolve.core.errors import ConfigError

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "experiment")


def _compose(overrides: list[str]) -> Config:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return to_config(compose(config_name="config", overrides=overrides))


@pytest.mark.parametrize("group,option", [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))])
def test_every_group_option_composes(group, option):
    config = _compose([f"{group}={option}"])
    assert isinstance(config, Config)


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_composes(experiment):
    config = _compose([f"+experiment={experiment}"])
    assert config.search.max_steps > 0


def test_conv1d_experiment_selects_the_conv1d_task_and_a_budget():
    config = _compose(["+experiment=conv1d", "search.max_steps=4"])
    assert config.task.name == "conv1d"
    assert config.search.max_steps == 4


def test_a_misspelt_key_fails_loudly():
    with pytest.raises(ConfigCompositionException, match="max_stepz"):
        _compose(["+experiment=conv1d", "search.max_stepz=4"])


def test_a_plus_key_that_slips_past_hydra_is_still_rejected():
    with pytest.raises((ConfigError, ConfigCompositionException), match="max_stepz"):
        _compose(["+search.max_stepz=4"])


def test_a_bad_enum_value_fails_with_the_choices():
    with pytest.raises(ConfigCompositionException, match="greedy"):
        _compose(["search.policy=greedyy"])
