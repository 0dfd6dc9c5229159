"""Several models behind one `LLMClient`: draw by weight, or learn which pays (UCB1 bandit).

Bandit reward: a child's improvement over its parent's score (clipped at 0: a buggy child earns
nothing) divided by the dollars its call cost (floored at `min_cost_usd`). The operator reports it
through `feedback(model, improvement, cost_usd)` once the child has been evaluated (see
operator/llm_operator.py `observe`). Selection: a member never picked goes first; otherwise the one
maximizing mean_reward / best_mean_reward + exploration * sqrt(2 ln total_picks / picks), so reward
scale (dollars are small) does not swamp exploration.

Resume: the arm statistics are not stored twice. Every pick is a recorded LLM call naming its member
(an ensemble completion's `model` is the member's name) and every reward follows from that call's cost
and the scores of its child and parent, so a resumed run rebuilds them from the run store and hands
them to `restore` (llm/resume.py): picks, then feedback in evaluation order, as they happened.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Iterable, Sequence

import numpy as np

from kernelevolve.core.errors import ConfigError, LLMError
from kernelevolve.llm.config import EnsembleStrategy
from kernelevolve.llm.protocols import Completion, LLMClient, LLMRequest

logger = logging.getLogger(__name__)


class EnsembleClient:
    """An `LLMClient` and `FeedbackReceiver` over several member clients."""

    def __init__(self, members: Sequence[tuple[LLMClient, float]], *,
                 strategy: EnsembleStrategy = EnsembleStrategy.weighted, exploration: float = 1.0,
                 min_cost_usd: float = 1e-4, seed: int = 0) -> None:
        if not members:
            raise ConfigError("llm.backend=ensemble needs at least one entry in llm.ensemble.members.")
        names = [client.name for client, _ in members]
        if len(set(names)) != len(names):
            raise ConfigError(f"ensemble members must have distinct model names, got {names}.")
        weights = np.array([w for _, w in members], dtype=np.float64)
        if strategy is EnsembleStrategy.weighted and (np.any(weights < 0) or weights.sum() <= 0):
            raise ConfigError(f"ensemble weights must be >= 0 with a positive sum, got {weights.tolist()}.")
        self.name = f"ensemble({','.join(names)})"
        self._clients = {client.name: client for client, _ in members}
        self._names = names
        self._probs = weights / weights.sum() if weights.sum() > 0 else weights
        self._strategy = strategy
        self._exploration = exploration
        self._min_cost = min_cost_usd
        self._rng = np.random.default_rng(seed)
        self._picks = dict.fromkeys(names, 0)
        self._rewards: dict[str, list[float]] = {n: [] for n in names}
        self._lock = threading.Lock()

    def complete(self, request: LLMRequest) -> Completion:
        """Returns the answer of the member chosen for this call, labelled with that member's name.

        The label is the arm: bandit feedback and the stored call records name the member, whatever
        model string its endpoint (or recording) reports.
        """
        name = self.choose(request.seed)
        try:
            completion = self._clients[name].complete(request)
        except LLMError as exc:
            exc.model = name  # type: ignore[attr-defined] - the call record (and a resume) names the member
            raise
        return completion if completion.model == name else dataclasses.replace(completion, model=name)

    def choose(self, seed: int | None = None) -> str:
        """Returns the member to call next (and counts the pick).

        A weighted draw for a request that carries a seed depends on that seed alone, so a re-issued
        expansion step (a resumed run) goes to the same model; the bandit depends on its history.
        """
        with self._lock:
            if self._strategy is EnsembleStrategy.weighted:
                rng = self._rng if seed is None else np.random.default_rng(seed)
                name = str(rng.choice(self._names, p=self._probs))
            else:
                name = self._ucb_choice()
            self._picks[name] += 1
        return name

    def feedback(self, model: str, improvement: float, cost_usd: float) -> None:
        """Records one child's improvement over its parent for the member that wrote it."""
        if model not in self._rewards:
            logger.warning("ensemble feedback for unknown model=%s ignored", model)
            return
        reward = max(improvement, 0.0) / max(cost_usd, self._min_cost)
        with self._lock:
            self._rewards[model].append(reward)

    def restore(self, picks: Iterable[str], feedback: Iterable[tuple[str, float, float]]) -> None:
        """Replaces the bandit's history with a recorded one: the member of every pick, and
        (model, improvement, cost_usd) per evaluated child in evaluation order, as `feedback` took them."""
        counts = dict.fromkeys(self._names, 0)
        for name in picks:
            if name in counts:
                counts[name] += 1
            else:
                logger.warning("restored ensemble pick of unknown model=%s ignored", name)
        with self._lock:
            self._picks = counts
            self._rewards = {n: [] for n in self._names}
        for model, improvement, cost_usd in feedback:
            self.feedback(model, improvement, cost_usd)

    def stats(self) -> dict[str, tuple[int, float]]:
        """Returns per member (picks, mean reward) — the bandit's state, for reports and tests."""
        with self._lock:
            return {n: (self._picks[n], float(np.mean(r)) if (r := self._rewards[n]) else 0.0) for n in self._names}

    def _ucb_choice(self) -> str:
        untried = [n for n in self._names if self._picks[n] == 0]
        if untried:
            return untried[0]
        means = {n: float(np.mean(r)) if (r := self._rewards[n]) else 0.0 for n in self._names}
        best = max(means.values())
        total = sum(self._picks.values())

        def score(n: str) -> float:
            exploit = means[n] / best if best > 0 else 0.0
            return exploit + self._exploration * math.sqrt(2 * math.log(total) / self._picks[n])

        return max(self._names, key=score)
