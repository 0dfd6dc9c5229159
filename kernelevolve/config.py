"""The root structured config, registered with Hydra's ConfigStore so an unknown key is an error.

Enum members are named like their values (`greedy = "greedy"`) because OmegaConf matches enum
config values by member name. Each component's config lives next to it (search/config.py, eval/config.py, ...); this module only
assembles them and adds the small groups that belong to no package (run, task, platform, cluster).
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from kernelevolve.core.errors import ConfigError
from kernelevolve.eval.config import EvalConfig
from kernelevolve.llm.config import LLMConfig
from kernelevolve.operator.config import OperatorConfig
from kernelevolve.overrides import flatten, parse_overrides, touched_keys
from kernelevolve.search.config import SearchConfig
from kernelevolve.store.config import StoreConfig


class PlatformName(enum.StrEnum):
    """Where candidates run. auto: cuda/rocm when a GPU is visible, else cpu (the Triton interpreter)."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    rocm = "rocm"
    mtia = "mtia"


class ClusterKind(enum.StrEnum):
    """local: one process tree, no Ray. ray: actors on a local or remote Ray cluster.

    auto: ray when Ray is importable and either `cluster.address` is set or more than one GPU is
    visible (several devices are what Ray buys you on one machine); local otherwise.
    """

    auto = "auto"
    local = "local"
    ray = "ray"


class PlacementStrategy(enum.StrEnum):
    """How evaluator bundles spread over nodes (Ray placement-group strategies, lowercase)."""

    pack = "pack"
    spread = "spread"
    strict_pack = "strict_pack"
    strict_spread = "strict_spread"


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Identity and randomness of one run.

    Attributes:
        id: run id (default: <time>-<task>-<random>); names the directory under store.root.
        resume: id of an earlier run to continue instead of starting a new one.
        seed: seeds the search policy and the operator; the same seed and results give the same trace.
        log_level: level of the run log written to <run dir>/run.log.
    """

    id: str | None = None
    resume: str | None = None
    seed: int = 0
    log_level: str = "INFO"


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskConfig:
    """Which operator to optimize.

    Attributes:
        name: a built-in task (`kernelevolve task list`), used when `path` is not set.
        path: a task file (KernelBench format, optionally extended); overrides `name`.
    """

    name: str = "conv1d"
    path: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlatformConfig:
    """Where candidates are evaluated.

    Attributes:
        name: the platform; `auto` resolves at launch and the run records the choice.
    """

    name: PlatformName = PlatformName.auto


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """How the search is spread over machines (the `cluster` group; Ray settings apply to kind=ray).

    Attributes:
        kind: local (no Ray), ray, or auto (see ClusterKind).
        address: Ray address to join (`auto`, `ray://host:10001`); None starts a local instance.
        num_cpus: CPUs a locally started Ray instance may use (0 = all the machine has).
        evaluators: evaluator actors, each holding one unit of `resource` exclusively; 0 = one per
            unit of `resource` in the cluster (one CPU-only evaluator when the cluster has none).
        resource: the accelerator resource an evaluator holds one of ("GPU", or a custom counter such
            as "MTIA"); "" = CPU-only evaluators.
        cpus_per_evaluator: CPUs in each evaluator bundle, for compiling candidates in parallel.
        eval_batch: candidates in flight per evaluator: eval.judges_per_device are judged while the others
            compile on the bundle's CPUs (raised to judges_per_device + eval.precompile_workers), so the
            device is not idle between candidates.
        placement: how the evaluator bundles spread over nodes.
        placement_timeout_s: how long a run waits for its fleet's placement group while other work holds
            the resources, seconds; 0 = as long as it takes (sweep points queue). Past it the run fails
            naming what it asked for; a fleet the cluster's nodes can never hold fails at once.
        start_timeout_s: how long the fleet's actors may take to start once placed (each is a worker
            process that imports torch; minutes on a loaded node), seconds.
        expanders: expander actors (they run the operator; they never hold an accelerator); a floor,
            raised to hold the expansions that `expansions_per_slot` keeps in flight.
        expander_concurrency: expansions one expander runs at once (its max_concurrency).
        expansions_per_slot: expansions kept in flight behind each evaluation slot (evaluators x
            eval_batch slots; on cluster=local, the device's judges and compile workers), so a fresh
            candidate is ready when a verdict comes back: search.concurrency is raised to slots x (1 + this)
            (never from 1) and, on Ray, the expanders to as many as run those expansions at once.
            Enough when >= expansion time / evaluation time (the live status says when it is not);
            0 = search.concurrency and expanders as configured.
        cpus_per_expander: CPUs reserved by each expander actor (fractions allowed; LLM calls mostly wait).
        max_restarts: times Ray restarts a dead expander or evaluator before giving up on it.
        quarantine_after: consecutive failures of one evaluator (errors or deaths, not candidate
            verdicts) after which it gets no more work and is reported as quarantined.
        restart_timeout_s: how long a failed actor may take to come back before it is quarantined, seconds.
        namespace: Ray namespace of the named actors (`controller@<run id>`, `evaluator-<i>@<run id>`).
    """

    kind: ClusterKind = ClusterKind.local
    address: str | None = None
    num_cpus: int = 0
    evaluators: int = 0
    resource: str = "GPU"
    cpus_per_evaluator: float = 1.0
    eval_batch: int = 2
    placement: PlacementStrategy = PlacementStrategy.pack
    placement_timeout_s: float = 0.0
    start_timeout_s: float = 180.0
    expanders: int = 2
    expander_concurrency: int = 4
    expansions_per_slot: float = 1.0
    cpus_per_expander: float = 0.5
    max_restarts: int = 3
    quarantine_after: int = 3
    restart_timeout_s: float = 60.0
    namespace: str = "kernelevolve"

    def resolve_kind(self, *, ray_available: bool, gpu_count: int) -> ClusterKind:
        """Returns local or ray: `auto` picks ray when Ray is importable and an address is set or >1 GPU is seen."""
        if self.kind is not ClusterKind.auto:
            return self.kind
        if ray_available and (self.address is not None or gpu_count > 1):
            return ClusterKind.ray
        return ClusterKind.local


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    """The whole configuration of a run."""

    run: RunConfig = dataclasses.field(default_factory=RunConfig)
    task: TaskConfig = dataclasses.field(default_factory=TaskConfig)
    platform: PlatformConfig = dataclasses.field(default_factory=PlatformConfig)
    search: SearchConfig = dataclasses.field(default_factory=SearchConfig)
    llm: LLMConfig = dataclasses.field(default_factory=LLMConfig)
    operator: OperatorConfig = dataclasses.field(default_factory=OperatorConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    store: StoreConfig = dataclasses.field(default_factory=StoreConfig)
    cluster: ClusterConfig = dataclasses.field(default_factory=ClusterConfig)


def register_configs() -> None:
    """Registers the schema with Hydra's ConfigStore (conf/config.yaml lists it first).

    The dataclasses are frozen (a built config never changes), which OmegaConf turns into read-only
    nodes; composition must still merge group files and overrides, so the schema node is made writable.
    Struct mode stays on: unknown keys remain errors.
    """
    schema = OmegaConf.structured(Config)
    _clear_readonly(schema)
    ConfigStore.instance().store(name="base_config", node=schema)


def _clear_readonly(node: DictConfig) -> None:
    OmegaConf.set_readonly(node, None)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _clear_readonly(child)


def _unknown_keys(data: Any, schema: type, prefix: str = "") -> list[str]:
    """Returns dotted keys in `data` that the dataclass `schema` (recursively) does not define."""
    hints = typing.get_type_hints(schema)
    out = []
    for key, value in data.items():
        if key not in hints:
            out.append(f"{prefix}{key}")
        elif dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
            out += _unknown_keys(value, hints[key], f"{prefix}{key}.")
    return out


def to_config(cfg: DictConfig) -> Config:
    """Returns the typed Config; raises ConfigError listing every key the schema does not know.

    Hydra rejects `key=value` for unknown keys, but `+key=value` slips past a schema; this catches it.
    """
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain = {k: v for k, v in plain.items() if k != "hydra"} if isinstance(plain, dict) else plain
    unknown = _unknown_keys(plain, Config)
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown}; check the spelling (see `--cfg job` for all keys).")
    obj = OmegaConf.to_object(cfg)
    if not isinstance(obj, Config):
        raise ConfigError(f"config did not build a Config (got {type(obj).__name__}); conf/config.yaml must list base_config first.")
    return obj


# What a resumed run may change from the command line: budgets and where it runs, never what is searched.
RESUMABLE_KEYS = frozenset({
    "run.resume", "run.log_level", "store.root", "eval.timeout_s", "search.max_steps", "search.max_wall_s",
    "search.max_tokens", "search.max_dollars", "search.stall", "search.target_speedup", "search.concurrency",
    # where and how long a served model (llm=vllm) runs; what it serves (llm.serve.model_*, ...) stays
    "llm.serve.host", "llm.serve.port", "llm.serve.keep", "llm.serve.ready_timeout_s",
})
RESUMABLE_GROUPS = ("cluster",)  # every key of these groups may change on resume (a cluster=ray choice applies whole)


def _resumable(key: str) -> bool:
    return key in RESUMABLE_KEYS or key.split(".")[0] in RESUMABLE_GROUPS


def resume_config(stored: dict[str, Any], requested: Config, overrides: typing.Iterable[str]) -> Config:
    """Returns the stored run's config with the explicitly overridden budget keys of `requested` applied.

    A resumed run keeps its task, platform, operator, policy and seed: an override that would change one of
    those, however it is spelled (`search.policy=mcts`, `search=mcts`, `+experiment=map_id`), raises
    ConfigError naming the key, its stored and requested values and the override, instead of silently judging
    the stored nodes against another task or continuing with another seed.
    """
    parsed = parse_overrides(overrides)
    wanted = flatten(OmegaConf.to_container(OmegaConf.structured(requested), resolve=True))  # type: ignore[arg-type]
    have = flatten(stored)
    touched = touched_keys(parsed, wanted)
    conflicts = sorted(k for k in touched if k in have and not _resumable(k) and wanted.get(k) != have[k])
    if conflicts:
        changes = ", ".join(f"{k}: {_shown(have[k])} -> {_shown(wanted.get(k))} ({touched[k]})" for k in conflicts)
        raise ConfigError(f"a resumed run keeps what it searches; these overrides would change it: {changes}. "
                          f"On resume only budgets and where the run executes may change "
                          f"({', '.join(sorted(RESUMABLE_KEYS))}, {', '.join(f'{g}.*' for g in RESUMABLE_GROUPS)}); "
                          "a group choice (search=..., task=..., +experiment=...) changes every key of its group. "
                          "Start a new run for anything else (search.seed_from=<run-id> reuses its kernels).")
    named = {o.key for o in parsed if not o.is_group} | {k for k in touched if k.split(".")[0] in RESUMABLE_GROUPS}
    updates = {k: wanted[k] for k in named | {"run.resume", "store.root"} if _resumable(k) and k in wanted}
    merged = OmegaConf.structured(Config)
    _clear_readonly(merged)
    merged = OmegaConf.merge(merged, stored, OmegaConf.from_dotlist([f"{k}={_dotlist_value(v)}" for k, v in updates.items()]))
    obj = OmegaConf.to_object(merged)
    assert isinstance(obj, Config)
    return obj


def _shown(value: Any) -> str:
    return repr(value.value if isinstance(value, enum.Enum) else value)


def _dotlist_value(value: Any) -> str:
    return "null" if value is None else str(value)
