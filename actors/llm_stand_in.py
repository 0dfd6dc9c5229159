"""The stand-in engine of llm=vllm (llm.serve.engine=stand_in): Ray Serve deployments shaped like Ray Serve LLM's
application, answering from a recording instead of running vLLM.

Like `build_openai_app`, the application is an ingress deployment serving the OpenAI routes
(/v1/models, /v1/chat/completions) in front of a model deployment whose replicas hold the same
placement-group bundles as vLLM replicas (GPUs per tensor_parallel_size, autoscaled between min and max
replicas). Everything around the engine is therefore the real path: Serve's placement, health checks,
replica restarts, HTTP proxy and routing; the client sees the same status codes (404 for a model it does
not serve, 503 when the replica serving its request died).

No `from __future__ import annotations` here: Serve rewrites the ingress methods for FastAPI, which then
cannot resolve a string annotation such as "Request" and takes it for a required query parameter (422).
"""

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.handle import DeploymentHandle

from kernelevolve.core.errors import NonRetryableLLMError
from kernelevolve.llm.config import ReplayMatch, ServeConfig
from kernelevolve.llm.protocols import LLMRequest
from kernelevolve.llm.replay import ReplayClient
from kernelevolve.llm.vllm_serve import model_deployment_name, replica_bundles

logger = logging.getLogger(__name__)

SHUTDOWN_S = 2.0  # a replica drains in-flight answers this long when deleted (Serve's default is 20 s)
ingress_app = FastAPI()


def _request(body: dict[str, Any]) -> LLMRequest:
    """Returns the LLMRequest of an OpenAI chat body: the system message, the other messages' text joined."""
    messages = body.get("messages") or []
    system = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")
    return LLMRequest(system=system, prompt=prompt, seed=body.get("seed"))


def _error_body(status: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": status}}


class StandInServer:
    """One model replica: answers chat bodies from the recording, each after `delay_s`."""

    def __init__(self, model_id: str, path: str, match: str, delay_s: float) -> None:
        self._model_id, self._delay_s = model_id, delay_s
        self._client = ReplayClient(Path(path), match=ReplayMatch(match), name=model_id)
        self._served = self._in_flight = 0

    async def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Returns (200, the OpenAI chat.completion answering `body`), or (400, an error) on a replay miss."""
        self._in_flight += 1
        try:
            await asyncio.sleep(self._delay_s)
            completion = self._client.complete(_request(body))
        except NonRetryableLLMError as exc:
            return 400, _error_body(400, str(exc), "BadRequestError")
        finally:
            self._in_flight -= 1
        self._served += 1
        usage = {"prompt_tokens": completion.tokens_in, "completion_tokens": completion.tokens_out,
                 "total_tokens": completion.tokens_in + completion.tokens_out}
        return 200, {"id": f"chatcmpl-stand-in-{self._served}", "object": "chat.completion",
                     "created": int(time.time()), "model": self._model_id, "usage": usage,
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": completion.text}}]}

    async def stats(self) -> dict[str, int]:
        """Returns this replica's answers served and in flight."""
        return {"served": self._served, "in_flight": self._in_flight}


@serve.ingress(ingress_app)
class StandInIngress:
    """The OpenAI routes in front of the model deployment (Ray Serve LLM's OpenAiIngress, minus streaming)."""

    def __init__(self, server: DeploymentHandle, model_id: str) -> None:
        self._server, self._model_id = server, model_id

    @ingress_app.get("/v1/models")
    async def models(self) -> dict[str, Any]:
        """Returns the served model in OpenAI's model-list shape."""
        return {"object": "list", "data": [{"id": self._model_id, "object": "model", "owned_by": "stand-in"}]}

    @ingress_app.post("/v1/chat/completions")
    async def chat(self, request: Request) -> Any:
        """Returns the model's answer, 404 for another model, 503 when the replica died with the request."""
        body = await request.json()
        if body.get("model") != self._model_id:
            status, payload = 404, _error_body(404, f"model {body.get('model')!r} is not served here; this "
                                               f"deployment serves {self._model_id!r}", "NotFoundError")
            return JSONResponse(payload, status_code=status)
        try:
            status, payload = await self._server.chat.remote(body)
        except RayActorError as exc:  # the replica died mid-answer; Serve starts another, the client retries
            logger.warning("stand-in replica died answering a request: %s", type(exc).__name__)
            status, payload = 503, _error_body(503, f"the model replica died ({type(exc).__name__}); Serve is "
                                                    "restarting it", "ServiceUnavailable")
        return JSONResponse(payload, status_code=status)


def build_stand_in_app(serve_config: ServeConfig) -> Any:
    """Returns the stand-in application (ingress bound to the model deployment) for serve.run."""
    stand_in = serve_config.stand_in
    server = serve.deployment(StandInServer).options(
        name=f"StandInServer:{model_deployment_name(serve_config)}",
        autoscaling_config={"min_replicas": serve_config.min_replicas, "max_replicas": serve_config.max_replicas},
        placement_group_bundles=replica_bundles(serve_config), placement_group_strategy="PACK",
        max_ongoing_requests=64, graceful_shutdown_timeout_s=SHUTDOWN_S,
    ).bind(serve_config.model_id, str(Path(stand_in.path).resolve()), stand_in.match.value, stand_in.delay_s)
    ingress = serve.deployment(StandInIngress).options(
        name="StandInIngress", ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=256,
        graceful_shutdown_timeout_s=SHUTDOWN_S)
    return ingress.bind(server, serve_config.model_id)
