"""The Ray Serve LLM description is built without Ray; deploying needs vllm, which is never installed here."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from kernelevolve.llm.config import LLMConfig, ServeConfig
from kernelevolve.llm.vllm_serve import serve_base_url, serve_llm_config_kwargs, served_endpoint


def test_llm_config_kwargs_describe_the_deployment():
    serve = ServeConfig(model_id="m", model_source="org/m", accelerator_type="H100", tensor_parallel_size=2,
                        min_replicas=1, max_replicas=3, max_model_len=4096)
    kwargs = serve_llm_config_kwargs(serve)
    assert kwargs["model_loading_config"] == {"model_id": "m", "model_source": "org/m"}
    assert kwargs["deployment_config"]["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 3}
    assert kwargs["engine_kwargs"] == {"tensor_parallel_size": 2, "max_model_len": 4096}
    assert kwargs["accelerator_type"] == "H100"
    assert "accelerator_type" not in serve_llm_config_kwargs(ServeConfig())


def test_endpoint_points_at_the_serve_proxy_with_the_served_model():
    llm = LLMConfig(serve=ServeConfig(model_id="m", host="10.0.0.5", port=8123))
    endpoint = served_endpoint(llm)
    assert endpoint.base_url == serve_base_url(llm.serve) == "http://10.0.0.5:8123/v1"
    assert endpoint.model == "m" and endpoint.require_key is False


def test_the_actor_module_imports_without_vllm():
    import actors.llm_serve  # noqa: F401  (must not import ray.serve.llm at module level)

    assert "vllm" not in sys.modules


def test_building_the_app_without_vllm_raises_an_actionable_import_error():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here; building the app would start loading a model")
    from actors.llm_serve import build_llm_app

    with pytest.raises(ImportError, match="kernelevolve\\[vllm\\]"):
        build_llm_app(ServeConfig())
