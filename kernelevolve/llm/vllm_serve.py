"""A self-hosted vLLM model served by Ray Serve LLM, described without importing Ray.

The core talks to the served model as an OpenAI-compatible endpoint (Ray Serve LLM exposes
/v1/chat/completions); this module only turns a `ServeConfig` into (a) the keyword arguments of
`ray.serve.llm.LLMConfig`, which actors/llm_serve.py passes on when it deploys the model, and
(b) the `EndpointConfig` the openai client uses to reach it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kernelevolve.llm.config import EndpointConfig, LLMConfig, ServeConfig


def serve_base_url(serve: ServeConfig) -> str:
    """Returns the OpenAI-compatible base URL of the Serve HTTP proxy."""
    return f"http://{serve.host}:{serve.port}/v1"


def serve_llm_config_kwargs(serve: ServeConfig) -> dict[str, Any]:
    """Returns keyword arguments for `ray.serve.llm.LLMConfig` describing the deployment."""
    kwargs: dict[str, Any] = {
        "model_loading_config": {"model_id": serve.model_id, "model_source": serve.model_source},
        "deployment_config": {"autoscaling_config": {"min_replicas": serve.min_replicas,
                                                     "max_replicas": serve.max_replicas}},
        "engine_kwargs": {"tensor_parallel_size": serve.tensor_parallel_size,
                          "max_model_len": serve.max_model_len},
    }
    if serve.accelerator_type:
        kwargs["accelerator_type"] = serve.accelerator_type
    return kwargs


def served_endpoint(llm: LLMConfig) -> EndpointConfig:
    """Returns the endpoint of backend=vllm: llm.openai, defaulting its URL and model to the deployment's.

    A self-hosted server needs no key, so require_key is off (a key in the named variable is still sent).
    """
    endpoint = llm.openai
    return dataclasses.replace(endpoint, base_url=endpoint.base_url or serve_base_url(llm.serve),
                               model=llm.serve.model_id, require_key=False)
