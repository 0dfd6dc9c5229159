"""Configuration of the LLM backend (the `llm` config group): one typed section per backend.

Enum members are named like their values because OmegaConf matches enum config values by member name.
A YAML under conf/llm/ selects `backend` and overrides fields of these dataclasses; an unknown key
is an error. API keys never appear here: an endpoint names the environment variable that holds one.
"""

from __future__ import annotations

import dataclasses
import enum


class LLMBackend(enum.StrEnum):
    """Which backend proposes candidates.

    auto: `openai` when an endpoint or key is configured, else `offline` (the run logs the choice).
    offline: tunable mutation and structural rewrites of the seed kernel, no model.
    openai: any OpenAI-compatible endpoint (OpenAI, a vLLM server, others).
    vllm: a self-hosted model served by Ray Serve LLM, reached as an OpenAI-compatible endpoint.
    ensemble: several endpoints, picked by weight or by a bandit on improvement per dollar.
    replay: answers read from a recorded file (tests, demos); `replay.mode=record` writes one.
    """

    auto = "auto"
    offline = "offline"
    openai = "openai"
    vllm = "vllm"
    ensemble = "ensemble"
    replay = "replay"


@dataclasses.dataclass(frozen=True, kw_only=True)
class EndpointConfig:
    """One OpenAI-compatible chat endpoint.

    Attributes:
        model: model name sent to the endpoint (also the label in records and the response cache).
        base_url: endpoint root (e.g. http://127.0.0.1:8000/v1); None means OpenAI's public API.
        api_key_env: name of the environment variable holding the key; the key itself is never stored.
        require_key: when False and the variable is unset, a placeholder key is sent (self-hosted servers).
        temperature: sampling temperature.
        max_tokens: most completion tokens per call.
        timeout_s: seconds before one HTTP attempt is abandoned (then retried).
        max_retries: retries after the first attempt on 429, 5xx, timeouts and connection errors.
        backoff_s: wait before the first retry, seconds; doubles per retry, with jitter.
        max_backoff_s: longest wait between retries, seconds.
        max_concurrency: calls in flight at once through this client (a semaphore).
        price_in_per_mtok: US dollars per 1M uncached prompt tokens.
        price_cached_per_mtok: US dollars per 1M cached prompt tokens.
        price_out_per_mtok: US dollars per 1M completion tokens.
    """

    model: str = "gpt-4.1"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    require_key: bool = True
    temperature: float = 0.7
    max_tokens: int = 8192
    timeout_s: float = 300.0
    max_retries: int = 4
    backoff_s: float = 2.0
    max_backoff_s: float = 60.0
    max_concurrency: int = 4
    price_in_per_mtok: float = 0.0
    price_cached_per_mtok: float = 0.0
    price_out_per_mtok: float = 0.0


class EnsembleStrategy(enum.StrEnum):
    """weighted: draw a member with probability proportional to its weight.
    bandit: UCB1 on mean improvement per dollar, fed by the operator after each child is evaluated."""

    weighted = "weighted"
    bandit = "bandit"


# Not frozen, unlike every other config: OmegaConf marks nodes built from a frozen dataclass read-only,
# and Hydra builds each member node while merging the YAML, so a frozen member could never be filled.
@dataclasses.dataclass(kw_only=True)
class EnsembleMember:
    """One model of an ensemble; transport settings (timeouts, retries, temperature, concurrency) come
    from llm.openai, and the fields here override it for this member.

    Attributes:
        model: model name sent to the endpoint (members must have distinct names).
        weight: relative draw probability under `weighted` (ignored by `bandit`).
        base_url: this member's endpoint; None means llm.openai.base_url.
        api_key_env: variable holding this member's key; None means llm.openai.api_key_env.
        price_in_per_mtok: US dollars per 1M uncached prompt tokens.
        price_cached_per_mtok: US dollars per 1M cached prompt tokens.
        price_out_per_mtok: US dollars per 1M completion tokens.
    """

    model: str
    weight: float = 1.0
    base_url: str | None = None
    api_key_env: str | None = None
    price_in_per_mtok: float = 0.0
    price_cached_per_mtok: float = 0.0
    price_out_per_mtok: float = 0.0

    def endpoint(self, base: EndpointConfig) -> EndpointConfig:
        """Returns `base` with this member's model, URL, key variable and prices."""
        return dataclasses.replace(
            base, model=self.model, base_url=self.base_url or base.base_url,
            api_key_env=self.api_key_env or base.api_key_env, price_in_per_mtok=self.price_in_per_mtok,
            price_cached_per_mtok=self.price_cached_per_mtok, price_out_per_mtok=self.price_out_per_mtok)


@dataclasses.dataclass(frozen=True, kw_only=True)
class EnsembleConfig:
    """Several models behind one client.

    Attributes:
        strategy: how a member is chosen per call.
        members: the models by a label of your choice (at least one for backend=ensemble); a dict, not a
            list, so one member can be overridden from the command line (llm.ensemble.members.big.weight=2).
        exploration: UCB1 exploration constant (bandit only); larger tries under-sampled models more.
        min_cost_usd: floor on a call's cost when dividing improvement by cost, US dollars (free
            self-hosted models would otherwise divide by zero).
    """

    strategy: EnsembleStrategy = EnsembleStrategy.weighted
    members: dict[str, EnsembleMember] = dataclasses.field(default_factory=dict)
    exploration: float = 1.0
    min_cost_usd: float = 1e-4


class ReplayMode(enum.StrEnum):
    """replay: answer from the file. record: call the `openai` endpoint and append each answer to the file."""

    replay = "replay"
    record = "record"


class ReplayMatch(enum.StrEnum):
    """prompt: answer keyed by the hash of (system, prompt). sequence: answers in file order (demos)."""

    prompt = "prompt"
    sequence = "sequence"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReplayConfig:
    """A recorded conversation file (JSON lines).

    Attributes:
        path: the file; required for backend=replay.
        mode: replay from it or record into it.
        match: how a request finds its answer; `sequence` cycles through the file.
    """

    path: str | None = None
    mode: ReplayMode = ReplayMode.replay
    match: ReplayMatch = ReplayMatch.prompt


@dataclasses.dataclass(frozen=True, kw_only=True)
class CacheConfig:
    """The on-disk response cache keyed by (model, endpoint, prompt, sampling params, seed).

    Attributes:
        enabled: serve repeated requests from disk (re-runs and resumes do not pay twice).
        dir: cache directory; None means ~/.cache/kernelevolve/llm.
    """

    enabled: bool = True
    dir: str | None = None


class ServeEngine(enum.StrEnum):
    """What answers behind the Ray Serve deployment of backend=vllm.

    vllm: Ray Serve LLM's vLLM engine on the model's GPUs (`pip install 'kernelevolve[vllm]'`).
    stand_in: a Ray Serve deployment that answers the same OpenAI routes from a recording, holding the
        same GPUs per replica (tests and dry runs of a cluster without vLLM or weights).
    """

    vllm = "vllm"
    stand_in = "stand_in"


@dataclasses.dataclass(frozen=True, kw_only=True)
class StandInConfig:
    """The recorded answers of engine=stand_in.

    Attributes:
        path: the recording (JSON lines, the format of llm.replay.path); required for engine=stand_in and
            readable on the nodes that run the replicas.
        match: how a request finds its answer (`sequence`: the file's answers in order, per replica).
        delay_s: seconds each answer takes, standing in for generation time.
    """

    path: str | None = None
    match: ReplayMatch = ReplayMatch.sequence
    delay_s: float = 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """A Ray Serve LLM deployment of a model (backend=vllm; deployed by the cluster=ray launch).

    Attributes:
        engine: what answers (see ServeEngine).
        model_id: the name clients send as `model` (the operator sends it).
        model_source: Hugging Face id or local path of the weights (local: the same path on every GPU node).
        accelerator_type: Ray accelerator label (e.g. H100), None for any GPU.
        tensor_parallel_size: GPUs per replica.
        min_replicas: fewest replicas kept up by autoscaling.
        max_replicas: most replicas autoscaling may start; the launch budgets max_replicas x
            tensor_parallel_size GPUs for the model.
        max_model_len: context length the engine reserves KV cache for, tokens.
        host: address the Serve HTTP proxies listen on (0.0.0.0 on a multi-node cluster: expanders on
            other nodes reach the model through it).
        port: port of the Serve HTTP proxies; the endpoint is http://<proxy node>:port/<application>/v1.
        keep: leave the deployment running when the run ends (the next run with the same settings reuses
            it); false deletes it, also one this run found running.
        ready_timeout_s: seconds to wait for the OpenAI route to answer after deploying (weights are
            downloaded and loaded meanwhile), then fail naming the deployment's state.
        stand_in: the recording of engine=stand_in.
    """

    engine: ServeEngine = ServeEngine.vllm
    model_id: str = "qwen-coder"
    model_source: str = "Qwen/Qwen2.5-Coder-7B-Instruct"
    accelerator_type: str | None = None
    tensor_parallel_size: int = 1
    min_replicas: int = 1
    max_replicas: int = 1
    max_model_len: int = 32768
    host: str = "127.0.0.1"
    port: int = 8000
    keep: bool = False
    ready_timeout_s: float = 1800.0
    stand_in: StandInConfig = dataclasses.field(default_factory=StandInConfig)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LLMConfig:
    """Settings of the operator's model.

    Attributes:
        backend: the backend (see LLMBackend).
        openai: the endpoint of backends openai and vllm, and the live endpoint of replay in record mode.
        ensemble: the members of backend=ensemble.
        replay: the recorded file of backend=replay.
        serve: the Ray Serve LLM deployment of backend=vllm.
        cache: the response cache (every backend that calls a model).
    """

    backend: LLMBackend = LLMBackend.auto
    openai: EndpointConfig = dataclasses.field(default_factory=EndpointConfig)
    ensemble: EnsembleConfig = dataclasses.field(default_factory=EnsembleConfig)
    replay: ReplayConfig = dataclasses.field(default_factory=ReplayConfig)
    serve: ServeConfig = dataclasses.field(default_factory=ServeConfig)
    cache: CacheConfig = dataclasses.field(default_factory=CacheConfig)
