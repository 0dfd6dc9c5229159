"""Command-line overrides read before Hydra: a misspelling is one line with the right spelling, and a group
choice expands into the keys it sets (what a resumed run must refuse)."""

from __future__ import annotations

import pytest

from kernelevolve.config import Config
from kernelevolve.core.errors import ConfigError
from kernelevolve.overrides import check_overrides, flatten, parse_overrides, schema_keys, touched_keys

KEYS = list(schema_keys(Config))


def _check(*args: str) -> None:
    check_overrides(parse_overrides(args), Config)


def test_a_misspelt_key_names_the_key_that_exists_without_a_plus():
    with pytest.raises(ConfigError) as info:
        _check("+experiment=conv1d", "search.max_stepz=4")
    assert str(info.value) == ("unknown config key 'search.max_stepz' in search.max_stepz=4; did you mean "
                               "search.max_steps=4? `python -m kernelevolve.launch --cfg job` prints every key.")
    with pytest.raises(ConfigError, match=r"in \+search.max_stepz=4; did you mean search.max_steps=4\?"):
        _check("+search.max_stepz=4")


def test_a_misspelt_group_or_option_names_the_choices():
    with pytest.raises(ConfigError, match=r"^unknown search option 'mctx'; did you mean search=mcts\? the options "
                                          r"are evolutionary, greedy, mcts\.$"):
        _check("search=mctx")
    with pytest.raises(ConfigError, match=r"^unknown config group 'serch' in serch=mcts; did you mean search=mcts\?"):
        _check("serch=mcts")
    with pytest.raises(ConfigError, match=r"^experiment=conv1d: an experiment is added to the config, not swapped "
                                          r"in; write \+experiment=conv1d\.$"):
        _check("experiment=conv1d")


def test_valid_overrides_flags_sweeps_and_open_keys_pass():
    _check("+experiment=conv1d", "search=greedy,mcts", "search.max_steps=4", "llm.ensemble.members.a.model=m",
           "hydra.verbose=true", "~search.stall", "--cfg", "job", "-m")


def test_a_group_choice_touches_every_key_of_its_group():
    touched = touched_keys(parse_overrides(["search=mcts", "run.seed=3"]), KEYS)
    assert touched["search.policy"] == "search=mcts" and touched["search.mcts.c"] == "search=mcts"
    assert touched["run.seed"] == "run.seed=3" and not any(k.startswith("task.") for k in touched)


def test_an_experiment_touches_the_groups_it_overrides_and_the_keys_it_sets():
    touched = touched_keys(parse_overrides(["+experiment=map_id"]), KEYS)
    assert touched["task.name"] == touched["search.policy"] == touched["search.max_steps"] == "+experiment=map_id"
    assert "platform.name" not in touched and "run.seed" not in touched


def test_flatten_gives_dotted_leaves():
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1]}) == {"a.b": 1, "a.c.d": None, "e": [1]}
