"""Builds a run from a Config (task, platform, store, operator, judge, policy) and runs the search."""

from __future__ import annotations

import dataclasses
import json
import logging
import platform as host_platform
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from omegaconf import OmegaConf

from kernelevolve.config import Config, PlatformName, resume_config
from kernelevolve.controller import Controller, Judge, Outcome, Snapshot, restore_graph
from kernelevolve.core.errors import ConfigError, StoreError
from kernelevolve.core.types import Candidate
from kernelevolve.llm.ensemble import EnsembleClient
from kernelevolve.operator.expansion import Operator
from kernelevolve.operator.factory import build_operator
from kernelevolve.paths import seed_kernel_path
from kernelevolve.search.factory import build_policy
from kernelevolve.search.graph import Graph
from kernelevolve.search.termination import Progress
from kernelevolve.seeds.chain import seeded
from kernelevolve.store.archive import Archive
from kernelevolve.store.config import build_object_store
from kernelevolve.store.liveness import Heartbeat
from kernelevolve.store.locate import resolve_run_dir
from kernelevolve.store.sqlite import SqliteMetadataStore
from kernelevolve.store.warmstart import best_kernels
from kernelevolve.tasks import Task, load_task
from kernelevolve.tasks.validate import check_task_for_launch

logger = logging.getLogger(__name__)


@dataclasses.dataclass(kw_only=True)
class Run:
    """Everything one search needs, built and ready."""

    config: Config
    run_id: str
    run_dir: Path
    task: Task
    platform: str
    archive: Archive
    operator: Operator
    resumed: bool


def resolve_platform(name: PlatformName) -> str:
    """Returns the concrete platform: `auto` becomes cuda/rocm when torch sees a GPU, else cpu."""
    if name is not PlatformName.auto:
        return name.value
    import torch

    if torch.cuda.is_available():
        return "rocm" if getattr(torch.version, "hip", None) else "cuda"
    return "cpu"


def software_versions() -> dict[str, str]:
    """Returns the versions a result depends on (recorded with every run)."""
    import torch
    import triton

    import kernelevolve

    return {"kernelevolve": kernelevolve.__version__, "torch": torch.__version__, "triton": triton.__version__,
            "python": host_platform.python_version()}


def prepare_run(config: Config, overrides: Sequence[str] = ()) -> Run:
    """Checks everything a run needs, then creates (or reopens, for run.resume) its directory and archive.

    Every check a user's mistake can fail (the task, a warm start's run, the object store's credentials,
    the operator's LLM key, a resume's overrides) runs before the run directory exists, so a refused launch
    leaves nothing behind. On resume the stored config is the truth; `overrides` (the command line's) may
    change only budgets and where the run executes.
    """
    config = _locate_resume(config)
    resumed = config.run.resume is not None
    if resumed:
        config = _stored_config(config, overrides)
    task = load_task(config.task.path or config.task.name)
    check_task_for_launch(task)
    run_id = config.run.resume or config.run.id or _new_run_id(task.name)
    run_dir = Path(config.store.root) / run_id
    if not resumed and run_dir.exists():
        raise ConfigError(f"run directory {run_dir} already exists; pick another run.id or resume it with run.resume={run_id}.")
    if not resumed and config.search.seed_from:  # a warm start that names no run fails here, not after mkdir
        best_kernels(Path(config.store.root), config.search.seed_from, config.search.seed_top_k)
    platform = resolve_platform(config.platform.name)
    operator = with_seed_chain(build_operator(config.llm, config.operator, task, platform=platform), config, task,
                               platform)
    objects = build_object_store(config.store, run_dir, run_id)  # last: the local store creates <run_dir>/objects
    run_dir.mkdir(parents=True, exist_ok=True)
    archive = Archive(run_dir, run_id, task=task.name, platform=platform, objects=objects)
    if not resumed:
        archive.start(config=OmegaConf.to_container(OmegaConf.structured(config), resolve=True),
                      versions=software_versions(), host=host_platform.node())
    return Run(config=config, run_id=run_id, run_dir=run_dir, task=task, platform=platform, archive=archive,
               operator=operator, resumed=resumed)


def with_seed_chain(operator: Operator, config: Config, task: Task, platform: str, *, eager: bool = True) -> Operator:
    """Returns the operator with its root from the seed chain (sample, Inductor's Triton, an LLM draft).

    A resumed run never plants a root, so its chain is never asked; with `eager`, an offline run's chain is
    resolved now, so a task with no seed fails before the run directory exists (Ray expanders pass False: only
    the one that serves the root resolves it).
    """
    sample = Path(config.operator.seed_path) if config.operator.seed_path else seed_kernel_path(task.name)
    if config.run.resume is not None:
        return operator
    return seeded(operator, task, sample=sample, capture_path=config.operator.capture_path, platform=platform,
                  eager=eager)


def _locate_resume(config: Config) -> Config:
    """Returns the config with run.resume as an id under store.root, also when it was given as a run directory."""
    resume = config.run.resume
    if resume is None or (Path(resume).name == resume and (Path(config.store.root) / resume / "meta.db").is_file()):
        return config
    try:
        run_dir = resolve_run_dir(resume, Path(config.store.root))
    except StoreError as exc:
        raise ConfigError(f"run.resume={resume}: {exc}") from exc
    return dataclasses.replace(config, run=dataclasses.replace(config.run, resume=run_dir.name),
                               store=dataclasses.replace(config.store, root=str(run_dir.parent)))


def _stored_config(requested: Config, overrides: Sequence[str]) -> Config:
    """Returns the stored config of the run to resume, with the platform it resolved to pinned (a run started
    with platform=auto stays on that platform when resumed elsewhere)."""
    meta = SqliteMetadataStore(Path(requested.store.root) / str(requested.run.resume) / "meta.db")
    try:
        run = meta.get_run(str(requested.run.resume))
    finally:
        meta.close()
    stored = json.loads(run["config_json"])
    stored["platform"] = {**stored.get("platform", {}), "name": run["platform"]}
    return resume_config(stored, requested, overrides)


def _new_run_id(task_name: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{task_name}-{secrets.token_hex(2)}"


def restore_state(run: Run) -> tuple[Graph, Progress]:
    """Returns the graph and budget counters stored for a run (empty for a new run)."""
    if not run.resumed:
        return Graph(), Progress()
    return restore_graph(run.archive)


def warm_start_seeds(run: Run) -> list[Candidate]:
    """Returns the root candidates `search.seed_from` names for a new run (none for a resumed one)."""
    seed_from = run.config.search.seed_from
    if run.resumed or not seed_from:
        return []
    kernels = best_kernels(Path(run.config.store.root), seed_from, run.config.search.seed_top_k)
    return [k.as_seed() for k in kernels if k.run_id != run.run_id]


def restore_bandit(run: Run, on_event: Callable[[Snapshot], None] | None) -> Callable[[Snapshot], None] | None:
    """Rebuilds a resumed run's bandit ensemble from its stored LLM calls and verdicts; returns `on_event`
    extended to report the children left pending by the interruption once they are evaluated.

    A pick is a call row (a root's draft is one too); a reward is (model, child score - parent
    score, cost) per evaluated child, in evaluation order. A call that raised is recorded under the
    member that failed, so its pick counts too.
    """
    client = getattr(run.operator, "client", None)
    if not run.resumed or not isinstance(client, EnsembleClient):
        return on_event
    nodes = {row["id"]: row for row in run.archive.meta.nodes(run.run_id)}
    picks: list[str] = []
    proposals: dict[int, tuple[str, float, float]] = {}  # child id -> (model, parent score, cost)
    for call in run.archive.meta.llm_calls(run.run_id):
        picks.append(call["model"])
        if call["node_id"] is not None and nodes[call["node_id"]]["parent_id"] is not None:  # a root's draft: no parent
            parent = nodes[nodes[call["node_id"]]["parent_id"]]
            proposals[call["node_id"]] = (call["model"], parent["score"], call["cost_usd"])
    done = sorted((nodes[i]["eval_seq"], i) for i in proposals if nodes[i]["state"] == "evaluated")
    client.restore(picks, [(proposals[i][0], nodes[i]["score"] - proposals[i][1], proposals[i][2]) for _, i in done])
    pending = {i: p for i, p in proposals.items() if nodes[i]["state"] != "evaluated"}

    def report_pending(snapshot: Snapshot) -> None:
        if snapshot.last is not None and snapshot.last.result is not None and snapshot.last.id in pending:
            model, parent_score, cost = pending.pop(snapshot.last.id)
            client.feedback(model, snapshot.last.score - parent_score, cost)
        if on_event is not None:
            on_event(snapshot)

    return report_pending if pending else on_event


def run_search(run: Run, judge: Judge, on_event: Callable[[Snapshot], None] | None = None,
               eval_slots: int = 1) -> Outcome:
    """Runs (or, for run.resume, continues) the search to termination and records how it ended; `eval_slots`
    evaluations run at once (a judge of several judges per device takes that many)."""
    graph, progress = restore_state(run)
    if run.resumed:
        run.archive.meta.mark_running(run.run_id)
        on_event = restore_bandit(run, on_event)
    controller = Controller(config=run.config.search, policy=build_policy(run.config.search),
                            operator=run.operator, judge=judge, archive=run.archive, seed=run.config.run.seed,
                            on_event=on_event, graph=graph, progress=progress, seeds=warm_start_seeds(run),
                            eval_slots=eval_slots)
    status = "interrupted"
    try:
        with Heartbeat(run.archive.meta, run.run_id):  # `runs list` tells a killed run from a running one
            outcome = controller.run()
        status = "finished"
        return outcome
    finally:
        run.archive.meta.finish_run(run.run_id, status=status,
                                    stop_reason=None if status != "finished" else outcome.stop_reason.value,
                                    progress=dataclasses.asdict(controller.progress))
