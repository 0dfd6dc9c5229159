"""A self-hosted model served by Ray Serve LLM, described without importing Ray.

The core talks to the served model as an OpenAI-compatible endpoint (Ray Serve LLM exposes
/v1/chat/completions and /v1/models under the application's route prefix); this module turns a
`ServeConfig` into what actors/llm_serve.py deploys and checks: the keyword arguments of
`ray.serve.llm.LLMConfig`, the application's name and route, the GPUs each replica holds, the
fingerprint that tells a running deployment of the same settings from another one, and the GPU budget.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

from kernelevolve.llm.config import EndpointConfig, LLMBackend, LLMConfig, ServeConfig

# The settings that make two deployments different models (host/port/keep/timeouts only say where and for how long).
_IDENTITY = ("engine", "model_id", "model_source", "accelerator_type", "tensor_parallel_size", "min_replicas",
             "max_replicas", "max_model_len", "stand_in")


def app_name(serve: ServeConfig) -> str:
    """Returns the Serve application's name: `llm-<model_id>` with characters other than [A-Za-z0-9_-] as '-'."""
    return "llm-" + re.sub(r"[^A-Za-z0-9_-]", "-", serve.model_id)


def route_prefix(serve: ServeConfig) -> str:
    """Returns the application's HTTP route prefix (one per model, so several models share one Serve instance)."""
    return "/" + app_name(serve)


def fingerprint(serve: ServeConfig) -> str:
    """Returns 10 hex digits identifying the deployment's settings (same settings, same fingerprint)."""
    fields = dataclasses.asdict(serve)
    identity = json.dumps({k: fields[k] for k in _IDENTITY}, sort_keys=True, default=str)
    return hashlib.sha256(identity.encode()).hexdigest()[:10]


def model_deployment_name(serve: ServeConfig) -> str:
    """Returns the model deployment's name (Serve shows it prefixed by the engine's class, e.g. LLMServer:)."""
    return f"{app_name(serve)}-{fingerprint(serve)}"


def serve_base_url(serve: ServeConfig, host: str | None = None, port: int | None = None) -> str:
    """Returns the OpenAI-compatible base URL of the application behind the Serve HTTP proxy at host:port."""
    return f"http://{host or serve.host}:{port or serve.port}{route_prefix(serve)}/v1"


def replica_bundles(serve: ServeConfig) -> list[dict[str, float]]:
    """Returns the placement-group bundles of one replica, as Ray Serve LLM 2.60 builds them for vLLM.

    One bundle per GPU of the replica (GPUAccelerator.default_bundles), each with 0.001 of the
    accelerator-type resource when one is named, and the replica actor's own CPU merged into the first
    (LLMServer.get_deployment_options), placed with PACK.
    """
    gpu: dict[str, float] = {"GPU": 1.0}
    if serve.accelerator_type:
        gpu[f"accelerator_type:{serve.accelerator_type}"] = 0.001
    bundles = [dict(gpu) for _ in range(serve.tensor_parallel_size)]
    bundles[0]["CPU"] = 1.0
    return bundles


def model_gpus(serve: ServeConfig) -> int:
    """Returns the GPUs the model may hold: max_replicas x tensor_parallel_size."""
    return serve.max_replicas * serve.tensor_parallel_size


def deploys_model(llm: LLMConfig) -> bool:
    """Returns True when a cluster=ray launch deploys the model: backend vllm with no endpoint of its own."""
    return llm.backend is LLMBackend.vllm and llm.openai.base_url is None


def gpu_shortfall(serve: ServeConfig, *, evaluator_gpus: float, evaluators: int, cluster_gpus: float,
                  typed_gpus: float | None) -> str | None:
    """Returns why the cluster cannot hold the evaluators and the model's replicas together, or None.

    `typed_gpus` is how many of the cluster's GPUs carry serve.accelerator_type (None when none is named).
    """
    need = model_gpus(serve)
    model = (f"the model's {serve.max_replicas} replica(s) x tensor_parallel_size {serve.tensor_parallel_size} "
             f"= {need} GPU(s)")
    if evaluator_gpus + need > cluster_gpus:
        return (f"this run needs {evaluator_gpus + need:g} GPUs: {evaluators} evaluator(s) holding "
                f"{evaluator_gpus:g} GPU(s) + {model}; the cluster has {cluster_gpus:g} GPU(s)")
    if typed_gpus is not None and need > typed_gpus:
        return (f"{model} of accelerator type {serve.accelerator_type}; the cluster has {typed_gpus:g} such "
                f"GPU(s) of {cluster_gpus:g}")
    return None


def serve_llm_config_kwargs(serve: ServeConfig) -> dict[str, Any]:
    """Returns keyword arguments for `ray.serve.llm.LLMConfig` describing the deployment."""
    kwargs: dict[str, Any] = {
        "model_loading_config": {"model_id": serve.model_id, "model_source": serve.model_source},
        "deployment_config": {"name": model_deployment_name(serve),
                              "autoscaling_config": {"min_replicas": serve.min_replicas,
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
