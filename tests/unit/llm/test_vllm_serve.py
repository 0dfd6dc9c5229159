"""The Ray Serve LLM description and the GPU budget, without a Ray cluster (vllm is never installed here)."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys

import pytest

from kernelevolve.core.errors import ConfigError
from kernelevolve.llm.config import LLMBackend, LLMConfig, ServeConfig, ServeEngine, StandInConfig
from kernelevolve.llm.vllm_serve import (
    app_name,
    deploys_model,
    fingerprint,
    gpu_shortfall,
    model_deployment_name,
    model_gpus,
    replica_bundles,
    serve_base_url,
    serve_llm_config_kwargs,
    served_endpoint,
)


def test_llm_config_kwargs_describe_the_deployment():
    serve = ServeConfig(model_id="m", model_source="org/m", accelerator_type="H100", tensor_parallel_size=2,
                        min_replicas=1, max_replicas=3, max_model_len=4096)
    kwargs = serve_llm_config_kwargs(serve)
    assert kwargs["model_loading_config"] == {"model_id": "m", "model_source": "org/m"}
    assert kwargs["deployment_config"]["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 3}
    assert kwargs["deployment_config"]["name"] == model_deployment_name(serve) == f"llm-m-{fingerprint(serve)}"
    assert kwargs["engine_kwargs"] == {"tensor_parallel_size": 2, "max_model_len": 4096}
    assert kwargs["accelerator_type"] == "H100"
    assert "accelerator_type" not in serve_llm_config_kwargs(ServeConfig())


def test_endpoint_points_at_the_application_route_behind_the_serve_proxy():
    llm = LLMConfig(serve=ServeConfig(model_id="org/Coder-7B.v2", host="10.0.0.5", port=8123))
    endpoint = served_endpoint(llm)
    assert app_name(llm.serve) == "llm-org-Coder-7B-v2", "a route-safe name: one route prefix per model"
    assert endpoint.base_url == serve_base_url(llm.serve) == "http://10.0.0.5:8123/llm-org-Coder-7B-v2/v1"
    assert serve_base_url(llm.serve, host="10.0.0.9", port=9000) == "http://10.0.0.9:9000/llm-org-Coder-7B-v2/v1"
    assert endpoint.model == "org/Coder-7B.v2" and endpoint.require_key is False


def test_the_fingerprint_changes_with_what_is_served_not_with_where_or_how_long():
    base = ServeConfig(model_id="m", tensor_parallel_size=2)
    same = [dataclasses.replace(base, host="0.0.0.0", port=9, keep=True, ready_timeout_s=5.0)]
    different = [dataclasses.replace(base, tensor_parallel_size=4), dataclasses.replace(base, max_replicas=2),
                 dataclasses.replace(base, model_source="other/weights"), dataclasses.replace(base, engine=ServeEngine.stand_in),
                 dataclasses.replace(base, stand_in=StandInConfig(path="x.jsonl"))]
    assert {fingerprint(s) for s in same} == {fingerprint(base)}
    assert len({fingerprint(s) for s in different} | {fingerprint(base)}) == len(different) + 1


def test_replica_bundles_hold_one_gpu_per_tensor_parallel_rank_and_the_replica_cpu_on_the_first():
    bundles = replica_bundles(ServeConfig(tensor_parallel_size=3, accelerator_type="H100"))
    assert bundles == [{"GPU": 1.0, "accelerator_type:H100": 0.001, "CPU": 1.0},
                       {"GPU": 1.0, "accelerator_type:H100": 0.001}, {"GPU": 1.0, "accelerator_type:H100": 0.001}]
    assert replica_bundles(ServeConfig()) == [{"GPU": 1.0, "CPU": 1.0}]


def test_only_vllm_without_an_endpoint_of_its_own_is_deployed():
    assert deploys_model(LLMConfig(backend=LLMBackend.vllm))
    served_elsewhere = LLMConfig(backend=LLMBackend.vllm)
    served_elsewhere = dataclasses.replace(served_elsewhere,
                                           openai=dataclasses.replace(served_elsewhere.openai, base_url="http://h/v1"))
    assert not deploys_model(served_elsewhere)
    assert not deploys_model(LLMConfig(backend=LLMBackend.openai))


def test_gpu_budget_counts_evaluators_plus_every_replica_and_names_the_numbers():
    serve = ServeConfig(tensor_parallel_size=2, max_replicas=2)  # 4 GPUs
    assert model_gpus(serve) == 4
    assert gpu_shortfall(serve, evaluator_gpus=4, evaluators=4, cluster_gpus=8, typed_gpus=None) is None
    why = gpu_shortfall(serve, evaluator_gpus=5, evaluators=5, cluster_gpus=8, typed_gpus=None)
    assert why == ("this run needs 9 GPUs: 5 evaluator(s) holding 5 GPU(s) + the model's 2 replica(s) x "
                   "tensor_parallel_size 2 = 4 GPU(s); the cluster has 8 GPU(s)")
    typed = gpu_shortfall(dataclasses.replace(serve, accelerator_type="H100"), evaluator_gpus=0, evaluators=0,
                          cluster_gpus=8, typed_gpus=3)
    assert typed is not None and "accelerator type H100; the cluster has 3 such GPU(s) of 8" in typed


def test_the_actor_module_imports_without_vllm():
    import actors.llm_serve  # noqa: F401  (must not import ray.serve.llm at module level)

    assert "vllm" not in sys.modules


def test_building_the_vllm_app_without_vllm_raises_an_actionable_config_error():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here; building the app would start loading a model")
    from actors.llm_serve import build_app

    with pytest.raises(ConfigError, match="kernelevolve\\[vllm\\].*engine=stand_in"):
        build_app(ServeConfig())


def test_the_stand_in_needs_a_readable_recording(tmp_path):
    from actors.llm_serve import build_app

    with pytest.raises(ConfigError, match="llm.serve.stand_in.path"):
        build_app(ServeConfig(engine=ServeEngine.stand_in))
    with pytest.raises(ConfigError, match="no replay file"):
        build_app(ServeConfig(engine=ServeEngine.stand_in, stand_in=StandInConfig(path=str(tmp_path / "none.jsonl"))))
