"""Builds the configured policy."""

from __future__ import annotations

from kernelevolve.search.config import PolicyName, SearchConfig
from kernelevolve.search.evolutionary import EvolutionaryPolicy
from kernelevolve.search.greedy import GreedyPolicy
from kernelevolve.search.mcts import MctsPolicy
from kernelevolve.search.protocols import Policy


def build_policy(config: SearchConfig) -> Policy:
    """Returns the policy named by `config.policy`, built from its section of the config."""
    if config.policy is PolicyName.mcts:
        return MctsPolicy(config.mcts)
    if config.policy is PolicyName.evolutionary:
        return EvolutionaryPolicy(config.evolutionary)
    return GreedyPolicy(top_k=config.top_k, exploration=config.exploration)
