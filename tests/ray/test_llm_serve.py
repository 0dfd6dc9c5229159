"""llm=vllm on cluster=ray with the stand-in engine: the real deployment path (Ray Serve placement, readiness,
endpoint discovery, replica restart, reuse, teardown) with recorded answers in place of vLLM.

One Ray instance (4 faked GPUs, node IP 127.0.0.1) and one Serve instance serve every test of the module:
each Serve start costs seconds on a 2-core machine.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import socket
import time
from pathlib import Path

import openai
import pytest
import ray
from ray import serve

from actors.driver import run_with_ray
from actors.llm_serve import served_llm
from actors.placement import FleetPlan
from kernelevolve.config import ClusterConfig, ClusterKind, Config
from kernelevolve.core.errors import ConfigError
from kernelevolve.llm.config import (
    CacheConfig,
    EndpointConfig,
    LLMBackend,
    LLMConfig,
    ServeConfig,
    ServeEngine,
    StandInConfig,
)
from kernelevolve.llm.vllm_serve import app_name, model_deployment_name
from kernelevolve.operator.config import OperatorConfig
from kernelevolve.search.termination import StopReason
from tests.ray.conftest import ROOT, WORKER_ENV, make_run
from tests.ray.fakes_ray import AnyKernelJudge

pytestmark = [pytest.mark.ray, pytest.mark.slow]

RECORDING = ROOT / "tests" / "assets" / "llm" / "conv1d_demo.jsonl"
RECORDED_TOKENS_IN = {2400, 2450, 2500, 2600}  # the recording's tokens_in: a stored call came from it
WAIT_S = 120.0  # bound of every wait on the cluster (each ends on an event long before)


@pytest.fixture(scope="module")
def serve_port():
    ray.init(num_cpus=8, num_gpus=4, namespace="kernelevolve", include_dashboard=False, runtime_env=WORKER_ENV,
             log_to_driver=False, _node_ip_address="127.0.0.1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield port
    serve.shutdown()
    ray.shutdown()


def _llm(port: int, **serve_fields) -> LLMConfig:
    stand_in = StandInConfig(path=str(RECORDING), delay_s=serve_fields.pop("delay_s", 0.0))
    return LLMConfig(backend=LLMBackend.vllm, cache=CacheConfig(enabled=False),
                     openai=EndpointConfig(require_key=False, backoff_s=0.2, max_retries=6, timeout_s=60.0),
                     serve=ServeConfig(engine=ServeEngine.stand_in, model_id="demo-coder", model_source="recording",
                                       host="127.0.0.1", port=port, ready_timeout_s=WAIT_S, stand_in=stand_in,
                                       **serve_fields))


def _replicas(serve_config: ServeConfig) -> list[str]:
    """Returns the names of the model deployment's replica actors."""
    tag = f"SERVE_REPLICA::{app_name(serve_config)}#StandInServer:{model_deployment_name(serve_config)}#"
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith(tag))


def _wait_for(check, what: str):
    end = time.monotonic() + WAIT_S
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up after {WAIT_S:g}s waiting for {what}")


def _kill_the_replica_mid_answer(serve_config: ServeConfig) -> tuple[str, list[str]]:
    """Kills the model's replica while it answers a call; returns (its name, the replicas Serve started after)."""
    app = app_name(serve_config)
    _wait_for(lambda: getattr(serve.status().applications.get(app), "status", None) == "RUNNING", "the model")
    handle = serve.get_deployment_handle(f"StandInServer:{model_deployment_name(serve_config)}", app)
    _wait_for(lambda: handle.stats.remote().result(timeout_s=10)["in_flight"] >= 1, "a call in flight")
    [victim] = _replicas(serve_config)
    ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
    return victim, _wait_for(lambda: [r for r in _replicas(serve_config) if r != victim], "a new replica")


def test_a_search_on_the_served_model_survives_a_replica_kill_records_its_calls_and_tears_it_down(serve_port, tmp_path):
    llm = _llm(serve_port, delay_s=1.0)  # each answer takes 1 s: the kill lands while one is in flight
    run = make_run(tmp_path, search={"max_steps": 4, "stall": 0, "concurrency": 2},
                   cluster={"evaluators": 1, "expanders": 1, "cpus_per_evaluator": 0.5, "cpus_per_expander": 0.25},
                   llm=llm, operator=OperatorConfig(retrieval=False))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        killer = pool.submit(_kill_the_replica_mid_answer, llm.serve)
        outcome = run_with_ray(run, judge_factory=AnyKernelJudge)
        victim, restarted = killer.result()
    assert outcome.stop_reason is StopReason.MAX_STEPS and outcome.progress.evaluated == 4
    assert restarted and victim not in restarted, "Serve replaced the killed replica"
    calls = run.archive.meta.llm_calls(run.run_id)
    answered = [c for c in calls if c["error"] is None]
    assert answered and all(c["model"] == "demo-coder" for c in calls)
    assert {c["tokens_in"] for c in answered} <= RECORDED_TOKENS_IN, "answers came over HTTP from the recording"
    assert all(c["prompt_excerpt"] for c in calls), "each call's prompt is stored"
    assert any(c["attempts"] >= 2 for c in answered), "the call the killed replica was answering was retried"
    assert app_name(llm.serve) not in serve.status().applications, "llm.serve.keep=false deleted the deployment"


def _config(port: int, **serve_fields) -> Config:
    return Config(llm=_llm(port, **serve_fields), cluster=ClusterConfig(kind=ClusterKind.ray, evaluators=1))


ONE_GPU_EVALUATOR = FleetPlan(bundles=[{"CPU": 1.0, "GPU": 1.0}], evaluators=1, expander_bundles=[])


def test_a_kept_deployment_is_reused_by_the_same_settings_and_replaced_by_others(serve_port):
    kept = _config(serve_port, tensor_parallel_size=2, keep=True)
    app = app_name(kept.llm.serve)
    with served_llm(kept, ONE_GPU_EVALUATOR) as config:
        url = config.llm.openai.base_url
        replicas = _replicas(kept.llm.serve)
        assert url == f"http://127.0.0.1:{serve_port}/{app}/v1"
        assert ray.available_resources().get("GPU", 0) == 2, "the replica holds tensor_parallel_size GPUs"
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        with pytest.raises(openai.NotFoundError, match="serves 'demo-coder'"):
            client.chat.completions.create(model="another-model", messages=[{"role": "user", "content": "hi"}])
    assert app in serve.status().applications, "keep=true left it running"
    with served_llm(kept, ONE_GPU_EVALUATOR) as config:
        assert config.llm.openai.base_url == url and _replicas(kept.llm.serve) == replicas, "reused, not redeployed"
    other = _config(serve_port, tensor_parallel_size=1, keep=False)
    with served_llm(other, ONE_GPU_EVALUATOR):
        assert len(_replicas(other.llm.serve)) == 1 and not _replicas(kept.llm.serve), "other settings replace it"
    assert app not in serve.status().applications


def test_a_model_the_gpus_cannot_hold_is_refused_with_numbers_before_anything_is_deployed(serve_port):
    big = _config(serve_port, tensor_parallel_size=2, max_replicas=2)
    with pytest.raises(ConfigError) as err, served_llm(big, ONE_GPU_EVALUATOR):
        pass
    assert ("needs 5 GPUs: 1 evaluator(s) holding 1 GPU(s) + the model's 2 replica(s) x tensor_parallel_size 2 = "
            "4 GPU(s); the cluster has 4 GPU(s)") in str(err.value)
    assert app_name(big.llm.serve) not in serve.status().applications
    h100 = dataclasses.replace(big, llm=_llm(serve_port, accelerator_type="H100"))
    with pytest.raises(ConfigError, match="accelerator type H100; the cluster has 0 such GPU"), \
            served_llm(h100, ONE_GPU_EVALUATOR):
        pass


def test_evaluators_counted_per_gpu_leave_the_models_gpus_free(serve_port, tmp_path):
    from actors.driver import fleet_plan
    from actors.llm_serve import reserved_gpus

    run = make_run(tmp_path, search={"max_steps": 1}, cluster={"evaluators": 0}, llm=_llm(serve_port, max_replicas=3))
    assert reserved_gpus(run.config) == 3
    assert fleet_plan(run, reserved_gpus(run.config)).evaluators == 1, "4 GPUs - 3 for the model"
    assert Path(RECORDING).is_file()
