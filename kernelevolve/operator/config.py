"""Configuration of the universal operator (the `operator` node of the config)."""

from __future__ import annotations

import dataclasses

from kernelevolve.operator.context import ContextLimits


@dataclasses.dataclass(frozen=True, kw_only=True)
class OperatorConfig:
    """Settings of the universal operator.

    Attributes:
        seed_path: seed kernel to start from (default: knowledge_base/samples/<task>/seed.py). With an
            LLM backend and no seed file, the model drafts the first kernel from the reference.
        retrieval: put knowledge-base snippets matching the diagnosis into the prompt.
        retrieval_k: most snippets per prompt.
        retrieval_token_budget: most tokens of snippets per prompt (tokens ~ characters / 4).
        kb_root: knowledge base to search (default: the repository's knowledge_base/).
        code_roots: extra source trees searched by code search (e.g. a checkout of Triton tutorials).
        context: how much of each part of the context memory a prompt may hold.
        capture_path: Inductor capture for the seed chain's second step when there is no hand-written seed: a
            .json from `kernelevolve seed capture`, or a directory of <task>.json (default: capture live on a GPU).
        rewrite_prob: offline operator only: chance that an expansion tries a structural rewrite
            (loop order, cache/eviction hints, program-id swizzle, a tile reshape at constant area, or a
            switch to another seed*.py beside the seed) before a tunable mutation.
    """

    seed_path: str | None = None
    retrieval: bool = True
    retrieval_k: int = 4
    retrieval_token_budget: int = 1500
    kb_root: str | None = None
    code_roots: list[str] = dataclasses.field(default_factory=list)
    context: ContextLimits = dataclasses.field(default_factory=ContextLimits)
    rewrite_prob: float = 0.3
    capture_path: str | None = None
