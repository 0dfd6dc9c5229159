"""Builds the configured operator."""

from __future__ import annotations

import logging
from pathlib import Path

from kernelevolve.core.errors import ConfigError
from kernelevolve.llm.config import LLMBackend, LLMConfig
from kernelevolve.operator.config import OperatorConfig
from kernelevolve.operator.expansion import Operator
from kernelevolve.operator.offline import OfflineOperator
from kernelevolve.paths import seed_kernel_path
from kernelevolve.tasks import Task

logger = logging.getLogger(__name__)


def build_operator(llm: LLMConfig, config: OperatorConfig, task: Task) -> Operator:
    """Returns the operator the llm/operator config asks for; `auto` without an endpoint is offline."""
    if llm.backend in (LLMBackend.auto, LLMBackend.offline):
        seed = Path(config.seed_path) if config.seed_path else seed_kernel_path(task.name)
        if llm.backend is LLMBackend.auto:
            logger.warning("llm=auto: no LLM endpoint configured, using the offline operator (tunes %s)", seed)
        return OfflineOperator(seed)
    raise ConfigError(f"llm.backend={llm.backend} is not supported by this build.")
