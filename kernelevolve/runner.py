"""Builds a run from a Config (task, platform, store, operator, judge, policy) and runs the search."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import platform as host_platform
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from omegaconf import OmegaConf

from kernelevolve.config import Config, PlatformName, resume_config
from kernelevolve.controller import Controller, Outcome, Snapshot, restore_graph
from kernelevolve.core.errors import ConfigError, StoreError
from kernelevolve.core.types import Candidate
from kernelevolve.eval.protocols import Judge
from kernelevolve.llm.ensemble import EnsembleClient
from kernelevolve.llm.resume import restore_ensemble
from kernelevolve.operator.factory import build_operator
from kernelevolve.operator.protocols import Operator
from kernelevolve.paths import seed_kernel_path
from kernelevolve.search.factory import build_policy
from kernelevolve.search.graph import Graph
from kernelevolve.search.termination import Progress
from kernelevolve.seeds.chain import seeded
from kernelevolve.store.archive import Archive
from kernelevolve.store.factory import build_object_store
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


def _gpu_visible() -> bool:
    import torch

    return torch.cuda.is_available()


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
    platform = resolve_platform(config.platform.name)
    check_task_for_launch(task, device="cuda" if platform in ("cuda", "rocm") and _gpu_visible() else "cpu")
    run_id = config.run.resume or config.run.id or _new_run_id(task.name)
    run_dir = Path(config.store.root) / run_id
    if not resumed and run_dir.exists():
        raise ConfigError(f"run directory {run_dir} already exists; pick another run.id or resume it with run.resume={run_id}.")
    if not resumed and config.search.seed_from:  # a warm start that names no run fails here, not after mkdir
        best_kernels(Path(config.store.root), config.search.seed_from, config.search.seed_top_k)
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
    """Rebuilds a resumed run's bandit ensemble from its stored LLM calls and verdicts (llm/resume.py); returns
    `on_event` extended so that each child the interruption left pending rewards its model once evaluated."""
    client = getattr(run.operator, "client", None)
    if not run.resumed or not isinstance(client, EnsembleClient):
        return on_event
    rewards = restore_ensemble(client, run.archive.meta.nodes(run.run_id), run.archive.meta.llm_calls(run.run_id))
    if not rewards.owed:
        return on_event

    def report_pending(snapshot: Snapshot) -> None:
        if snapshot.last is not None and snapshot.last.result is not None:
            rewards.settle(snapshot.last.id, snapshot.last.score)
        if on_event is not None:
            on_event(snapshot)

    return report_pending


@dataclasses.dataclass(kw_only=True)
class Lifecycle:
    """What a driver starts its search from, and how it ended; `run_lifecycle` records the end.

    Attributes:
        run: the run being searched.
        graph, progress: the stored graph and budget counters (empty for a new run). A driver whose
            controller runs elsewhere (Ray) replaces `progress` with each snapshot's, so an interrupted run
            records how far it got.
        seeds: warm-start roots for a new run.
        on_event: the caller's progress hook, extended to feed a resumed bandit its pending rewards.
        outcome: set by the driver when the search ended by itself; None means interrupted.
    """

    run: Run
    graph: Graph
    progress: Progress
    seeds: list[Candidate]
    on_event: Callable[[Snapshot], None] | None
    outcome: Outcome | None = None

    def heartbeat(self) -> Heartbeat:
        """Returns the context that claims the run's row while the search runs (`runs list` tells a killed run
        from a running one)."""
        return Heartbeat(self.run.archive.meta, self.run.run_id)


@contextlib.contextmanager
def run_lifecycle(run: Run, on_event: Callable[[Snapshot], None] | None) -> Iterator[Lifecycle]:
    """Restores a run (graph, counters, `running` status, bandit) and, however the search inside ends, records
    its end: `finished` with the stop reason once the driver set `outcome`, else `interrupted`."""
    graph, progress = restore_state(run)
    if run.resumed:
        run.archive.meta.mark_running(run.run_id)
        on_event = restore_bandit(run, on_event)
    life = Lifecycle(run=run, graph=graph, progress=progress, seeds=warm_start_seeds(run), on_event=on_event)
    try:
        yield life
    finally:
        outcome = life.outcome
        run.archive.meta.finish_run(run.run_id, status="interrupted" if outcome is None else "finished",
                                    stop_reason=None if outcome is None else outcome.stop_reason.value,
                                    progress=dataclasses.asdict(life.progress if outcome is None else outcome.progress))


def run_search(run: Run, judge: Judge, on_event: Callable[[Snapshot], None] | None = None,
               eval_slots: int = 1, concurrency: int | None = None) -> Outcome:
    """Runs (or, for run.resume, continues) the search to termination and records how it ended; `eval_slots`
    evaluations run at once (a judge of several judges per device takes that many), and `concurrency` items
    are kept in flight (None: search.concurrency)."""
    search = run.config.search if concurrency is None else dataclasses.replace(run.config.search,
                                                                                concurrency=concurrency)
    with run_lifecycle(run, on_event) as life:
        controller = Controller(config=search, policy=build_policy(search),
                                operator=run.operator, judge=judge, archive=run.archive, seed=run.config.run.seed,
                                on_event=life.on_event, graph=life.graph, progress=life.progress, seeds=life.seeds,
                                eval_slots=eval_slots)
        with life.heartbeat():
            outcome = controller.run()
        life.outcome = outcome
    return outcome
