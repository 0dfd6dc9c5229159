"""Configuration of the universal operator (the `operator` node of the config)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, kw_only=True)
class OperatorConfig:
    """Settings of the universal operator.

    Attributes:
        seed_path: seed kernel to start from (default: knowledge_base/samples/<task>/seed.py).
    """

    seed_path: str | None = None
