"""Deploys a self-hosted vLLM model with Ray Serve LLM (backend=vllm); the core reaches it over HTTP.

`ray.serve.llm` raises ImportError unless vllm (or sglang) is installed (`pip install kernelevolve[vllm]`),
so it is imported inside the functions that need it, never at module level.
Usage on a Ray cluster with GPUs: `deploy(config.llm.serve)` returns the base URL; with llm=vllm the
operator's openai client is pointed there (kernelevolve/llm/vllm_serve.py `served_endpoint`).
"""

from __future__ import annotations

import logging
from typing import Any

from kernelevolve.llm.config import ServeConfig
from kernelevolve.llm.vllm_serve import serve_base_url, serve_llm_config_kwargs

logger = logging.getLogger(__name__)


def build_llm_app(serve: ServeConfig) -> Any:
    """Returns the Ray Serve application serving the model (OpenAI-compatible routes)."""
    try:
        from ray.serve.llm import LLMConfig, build_openai_app
    except ImportError as exc:
        raise ImportError(
            "ray.serve.llm needs vllm: install it with `pip install 'kernelevolve[vllm]'` on the GPU nodes "
            f"({exc})") from exc
    llm_config = LLMConfig(**serve_llm_config_kwargs(serve))
    return build_openai_app({"llm_configs": [llm_config]})


def deploy(serve: ServeConfig, *, blocking: bool = False) -> str:
    """Starts (or updates) the deployment on the connected Ray cluster; returns its base URL."""
    from ray import serve as ray_serve

    ray_serve.start(http_options={"host": serve.host, "port": serve.port})
    ray_serve.run(build_llm_app(serve), blocking=blocking)
    url = serve_base_url(serve)
    logger.info("serving model=%s from %s at %s", serve.model_id, serve.model_source, url)
    return url
