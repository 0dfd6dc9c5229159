"""Builds the configured operator: offline, or the LLM operator over the configured client."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from kernelevolve.llm.config import LLMBackend, LLMConfig
from kernelevolve.llm.factory import build_client, resolve_backend
from kernelevolve.operator.codesearch import CodeSearcher
from kernelevolve.operator.config import OperatorConfig
from kernelevolve.operator.llm_operator import LLMOperator
from kernelevolve.operator.offline import OfflineOperator, alternative_seeds
from kernelevolve.operator.protocols import Operator, Retriever
from kernelevolve.operator.retrieval import DeepSearch, KnowledgeRetriever
from kernelevolve.paths import knowledge_base_root, seed_kernel_path
from kernelevolve.tasks import Task

logger = logging.getLogger(__name__)


def build_operator(llm: LLMConfig, config: OperatorConfig, task: Task, platform: str | None = None) -> Operator:
    """Returns the operator the llm/operator config asks for; `auto` without an endpoint or key is offline.

    `platform` (cuda, rocm, cpu, mtia) filters hardware documents in retrieval and names the target in
    the prompt; None keeps every document.
    """
    seed = Path(config.seed_path) if config.seed_path else seed_kernel_path(task.name)
    backend = resolve_backend(llm)
    if backend is LLMBackend.offline:
        return OfflineOperator(seed, rewrite_prob=config.rewrite_prob, alternatives=alternative_seeds(seed))
    client = build_client(dataclasses.replace(llm, backend=backend))
    operator = LLMOperator(client, task=task, seed_path=seed, platform=platform,
                           retriever=build_retriever(config) if config.retrieval else None,
                           limits=config.context, retrieval_k=config.retrieval_k,
                           retrieval_token_budget=config.retrieval_token_budget)
    logger.info("operator=%s backend=%s retrieval=%s", operator.name, backend, config.retrieval)
    return operator


def build_retriever(config: OperatorConfig) -> Retriever:
    """Returns deep search over the knowledge base (plus code roots), following the files it cites."""
    kb_root = (Path(config.kb_root) if config.kb_root else knowledge_base_root()).resolve()
    code_roots = [Path(p) for p in config.code_roots]
    retrievers: list[Retriever] = [KnowledgeRetriever.from_root(kb_root)]
    if code_roots:
        retrievers.append(CodeSearcher(code_roots))
    return DeepSearch(retrievers, follower=CodeSearcher([kb_root, *code_roots]))
