"""Serving the operator's model on the cluster (cluster=ray llm=vllm): deploy it with Ray Serve LLM (or reuse
the same deployment), wait until its OpenAI route answers, hand the expanders its URL, and at the end
keep it or delete it (`llm.serve.keep`).

`ray.serve.llm` raises ImportError unless vllm (or sglang) is installed (`pip install kernelevolve[vllm]`),
so it is imported only when engine=vllm deploys, never at module level; engine=stand_in deploys
actors/llm_stand_in.py instead, and everything else here is the same for both.

A running deployment is recognised by its application name (`llm-<model_id>`) and the fingerprint of its
settings in the model deployment's name (kernelevolve/llm/vllm_serve.py), both visible in `serve.status()`,
so reusing needs no state of its own. A replica that dies is restarted by Serve; the calls it was answering
fail with a 5xx and the operator's client retries them (llm.openai.max_retries).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray

from actors import resources
from actors.placement import FleetPlan
from kernelevolve.config import Config
from kernelevolve.core.errors import ConfigError, ServeError
from kernelevolve.llm.config import ServeConfig, ServeEngine
from kernelevolve.llm.replay import read_recording
from kernelevolve.llm.vllm_serve import (
    app_name,
    deploys_model,
    gpu_shortfall,
    model_deployment_name,
    model_gpus,
    route_prefix,
    serve_base_url,
    serve_llm_config_kwargs,
)

if TYPE_CHECKING:
    from ray.serve.schema import ServeStatus

logger = logging.getLogger(__name__)

POLL_S = 1.0  # how often readiness is checked
PROBE_TIMEOUT_S = 10.0  # one GET /v1/models
LOOPBACK = ("127.0.0.1", "localhost", "::1")
LOGS = ("the replicas' logs: /tmp/ray/session_latest/logs/serve/ on their nodes, or the Serve tab of the Ray "
        "dashboard; `serve status` prints the same states")
LIVE = ("RUNNING", "DEPLOYING", "UNHEALTHY")  # states of an identical deployment worth reusing (Serve heals it)


def ray_serve() -> Any:
    """Returns the `ray.serve` module; raises ConfigError naming the extra when Ray Serve is not installed."""
    try:
        from ray import serve
    except ImportError as exc:
        raise ConfigError("llm=vllm on cluster=ray deploys the model with Ray Serve, which is not installed here: "
                          f"`pip install 'kernelevolve[vllm]'` (or 'ray[serve]' for llm.serve.engine=stand_in) ({exc})"
                          ) from exc
    return serve


def reserved_gpus(config: Config) -> int:
    """Returns the GPUs kept from the evaluators for the model this launch serves (0 when it serves none, or
    when the evaluators hold another resource than GPUs)."""
    if not deploys_model(config.llm) or config.cluster.resource != "GPU":
        return 0
    return model_gpus(config.llm.serve)


def build_llm_app(serve_config: ServeConfig) -> Any:
    """Returns Ray Serve LLM's OpenAI application serving the model with vLLM."""
    try:
        from ray.serve.llm import LLMConfig, build_openai_app
    except ImportError as exc:
        raise ConfigError(
            "llm.serve.engine=vllm needs vllm: install it with `pip install 'kernelevolve[vllm]'` on the driver "
            f"and the GPU nodes, or use llm.serve.engine=stand_in for a dry run ({exc})") from exc
    return build_openai_app({"llm_configs": [LLMConfig(**serve_llm_config_kwargs(serve_config))]})


def build_app(serve_config: ServeConfig) -> Any:
    """Returns the application of the configured engine (a recording that cannot be read fails here)."""
    if serve_config.engine is ServeEngine.vllm:
        return build_llm_app(serve_config)
    if not serve_config.stand_in.path:
        raise ConfigError("llm.serve.engine=stand_in needs llm.serve.stand_in.path (a JSON-lines recording).")
    read_recording(Path(serve_config.stand_in.path))
    from actors.llm_stand_in import build_stand_in_app

    return build_stand_in_app(serve_config)


def check_gpu_budget(serve_config: ServeConfig, fleet: FleetPlan) -> None:
    """Raises ConfigError, with the numbers, when the cluster lacks GPUs for the evaluators plus the model."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    typed = None
    if serve_config.accelerator_type:
        label = f"accelerator_type:{serve_config.accelerator_type}"
        typed = sum(n.get("GPU", 0.0) for n in nodes if label in n)
    why = gpu_shortfall(serve_config, evaluator_gpus=resources.total(fleet.bundles).get("GPU", 0.0),
                        evaluators=fleet.evaluators, cluster_gpus=resources.total(nodes).get("GPU", 0.0),
                        typed_gpus=typed)
    if why is not None:
        raise ConfigError(f"llm=vllm: {why}. Lower cluster.evaluators, llm.serve.max_replicas or "
                          "llm.serve.tensor_parallel_size, or add GPU nodes.")


def start_serve(serve_config: ServeConfig) -> tuple[str, int]:
    """Starts Serve (or connects to the running instance); returns the (host, port) its HTTP proxies use."""
    ray_serve().start(http_options={"host": serve_config.host, "port": serve_config.port})
    from ray.serve.context import _get_global_client  # the only way to read a running instance's HTTP options

    http = _get_global_client().http_config
    if (http.host, http.port) != (serve_config.host, serve_config.port):
        logger.warning("Serve already runs on this cluster with host=%s port=%d; llm.serve.host=%s port=%d are "
                       "ignored (Serve's HTTP options are set once per cluster)", http.host, http.port,
                       serve_config.host, serve_config.port)
    if http.host in LOOPBACK and len([n for n in ray.nodes() if n.get("Alive")]) > 1:
        raise ConfigError(f"Serve's HTTP proxies listen on {http.host}, which expanders on other nodes cannot "
                          "reach; set llm.serve.host=0.0.0.0 (on a running Serve instance: `serve shutdown` first).")
    return http.host, http.port


def proxy_address(http_host: str, status: ServeStatus) -> str | None:
    """Returns the address expanders reach the HTTP proxy at: the configured one, or for a wildcard host the IP
    of a healthy proxy's node (the driver's node first); None while no proxy is healthy."""
    if http_host in LOOPBACK:
        return "127.0.0.1"
    if http_host not in ("0.0.0.0", "::", ""):
        return http_host
    healthy = sorted(node for node, state in status.proxies.items() if state == "HEALTHY")
    if not healthy:
        return None
    here = ray.get_runtime_context().get_node_id()
    node = here if here in healthy else healthy[0]
    return next(n["NodeManagerAddress"] for n in ray.nodes() if n["NodeID"] == node)


def deploy_or_reuse(serve_config: ServeConfig) -> bool:
    """Starts the application unless one with the same name and settings runs; returns True when it deployed."""
    app, wanted = app_name(serve_config), model_deployment_name(serve_config)
    serve = ray_serve()
    current = serve.status().applications.get(app)
    if current is not None:
        same = any(name.split(":", 1)[-1] == wanted for name in current.deployments)
        if same and current.status in LIVE:
            logger.info("reusing Serve application %s (%s, deployment %s)", app, _name(current.status), wanted)
            return False
        logger.warning("replacing Serve application %s (%s, deployments %s) with deployment %s", app,
                       _name(current.status), sorted(current.deployments), wanted)
    target = build_app(serve_config)
    # serve.run would wait for RUNNING with no time limit; _run(_blocking=False) returns once it is submitted
    serve._run(target, _blocking=False, name=app, route_prefix=route_prefix(serve_config))
    logger.info("deployed Serve application %s (engine %s, model %s from %s)", app, serve_config.engine.value,
                serve_config.model_id, serve_config.model_source)
    return True


def _name(state: Any) -> str:
    return str(getattr(state, "value", state))  # Serve's states are str enums; f-strings would print the class


def describe(app: str, status: ServeStatus) -> str:
    """Returns the application's state, each deployment's state, replica counts and message, in one line."""
    overview = status.applications.get(app)
    if overview is None:
        return f"application {app} does not exist"
    parts = []
    for name, deployment in sorted(overview.deployments.items()):
        replicas = ", ".join(f"{_name(k)}={v}" for k, v in sorted(deployment.replica_states.items())) or "none"
        message = f" ({deployment.message})" if deployment.message else ""
        parts.append(f"{name} {_name(deployment.status)} with replicas {replicas}{message}")
    message = f" ({overview.message})" if overview.message else ""
    return f"application {app} is {_name(overview.status)}{message}; " + "; ".join(parts)


def probe_models(url: str, model_id: str) -> bool:
    """Returns True when GET <url>/models lists `model_id` (the OpenAI route answers for this model)."""
    import openai

    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=PROBE_TIMEOUT_S)
    try:
        return any(m.id == model_id for m in client.models.list())
    except openai.OpenAIError as exc:
        logger.debug("probe of %s/models: %s", url, exc)
        return False


def await_ready(serve_config: ServeConfig, http: tuple[str, int], *, status: Callable[[], ServeStatus] | None = None,
                probe: Callable[[str, str], bool] = probe_models, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> str:
    """Returns the model's base URL once the application runs and its /v1/models lists the model.

    Raises ServeError at once when Serve gives up (DEPLOY_FAILED) or the application vanishes, and after
    llm.serve.ready_timeout_s otherwise, naming every deployment's state and where the logs are.
    """
    app, deadline = app_name(serve_config), clock() + serve_config.ready_timeout_s
    status = status or ray_serve().status
    while True:
        now = status()
        overview = now.applications.get(app)
        if overview is None or overview.status == "DEPLOY_FAILED":
            raise ServeError(f"the model did not deploy: {describe(app, now)}. See {LOGS}.")
        if overview.status == "RUNNING":
            host = proxy_address(http[0], now)
            url = serve_base_url(serve_config, host=host, port=http[1]) if host else None
            if url is not None and probe(url, serve_config.model_id):
                return url
        if clock() >= deadline:
            raise ServeError(f"the model's OpenAI route did not answer within {serve_config.ready_timeout_s:g}s "
                             f"(llm.serve.ready_timeout_s): {describe(app, now)}. See {LOGS}.")
        sleep(POLL_S)


def with_endpoint(config: Config, url: str) -> Config:
    """Returns the config with the operator's endpoint (llm.openai.base_url) at `url`."""
    llm = config.llm
    return dataclasses.replace(config, llm=dataclasses.replace(llm, openai=dataclasses.replace(llm.openai, base_url=url)))


@contextlib.contextmanager
def served_llm(config: Config, fleet: FleetPlan, *, owns_ray: bool = False) -> Iterator[Config]:
    """Yields the config with the operator pointed at the served model; does nothing unless the launch serves it.

    Before deploying, the cluster's GPUs are checked against the fleet's plus the model's. At the end the
    application is kept (llm.serve.keep) or deleted; one that never answered is deleted if this launch
    deployed it.
    """
    if not deploys_model(config.llm):
        yield config
        return
    serve_config = config.llm.serve
    check_gpu_budget(serve_config, fleet)
    http = start_serve(serve_config)
    deployed, url = deploy_or_reuse(serve_config), None
    try:
        url = await_ready(serve_config, http)
        logger.info("model %s answers at %s", serve_config.model_id, url)
        yield with_endpoint(config, url)
    finally:
        _finish(serve_config, url=url, deployed=deployed, owns_ray=owns_ray)


def _finish(serve_config: ServeConfig, *, url: str | None, deployed: bool, owns_ray: bool) -> None:
    app = app_name(serve_config)
    if url is None and not deployed:
        return  # an application this launch found, which never answered it, is left as found
    if url is not None and serve_config.keep:
        if owns_ray:
            logger.warning("llm.serve.keep=true, but the Ray instance this launch started stops with it; start Ray "
                           "with `ray start --head` and pass cluster.address=auto to keep the model between runs")
        logger.info("left Serve application %s running at %s (llm.serve.keep=true)", app, url)
        return
    logger.info("deleting Serve application %s", app)
    ray_serve().delete(app)
