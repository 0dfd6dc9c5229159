"""Builds the configured policy."""

from __future__ import annotations

from kernelevolve.core.errors import ConfigError
from kernelevolve.search.config import PolicyName, SearchConfig
from kernelevolve.search.greedy import GreedyPolicy
from kernelevolve.search.protocols import Policy


def build_policy(config: SearchConfig) -> Policy:
    """Returns the policy named by `config.policy`."""
    if config.policy is PolicyName.greedy:
        return GreedyPolicy(top_k=config.top_k, exploration=config.exploration)
    raise ConfigError(f"search.policy={config.policy} is not available yet; use search=greedy.")
