"""Entry point: `python -m kernelevolve.launch +experiment=conv1d [overrides]` (Hydra)."""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kernelevolve.config import ClusterKind, Config, register_configs, to_config
from kernelevolve.controller import Outcome, Snapshot
from kernelevolve.core.errors import KernelEvolveError
from kernelevolve.export import export_run
from kernelevolve.report.markdown import Report, build_report
from kernelevolve.report.page import write_report
from kernelevolve.runner import Run, prepare_run, run_search
from kernelevolve.sweep.summary import SUMMARY_MARK, summarize

logger = logging.getLogger("kernelevolve")
console = Console(stderr=True)


LOGGERS = ("kernelevolve", "actors")  # the core's and, for cluster=ray, the driver's Ray adapters (placement status)


def _configure_logging(run: Run) -> list[logging.Handler]:
    """Sends kernelevolve's log to <run dir>/run.log and its warnings to stderr; returns the handlers."""
    handler = logging.FileHandler(run.run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console_handler = logging.StreamHandler(sys.stderr)
    console_handler.setLevel(logging.WARNING)
    console_handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    for name in LOGGERS:
        logging.getLogger(name).setLevel(run.config.run.log_level)
        for h in (handler, console_handler):
            logging.getLogger(name).addHandler(h)
    return [handler, console_handler]


def _describe(snapshot: Snapshot, platform: str) -> str:
    p = snapshot.progress
    best = "-" if snapshot.best is None else f"{snapshot.best.score:.3f} (node {snapshot.best.id})"
    label = "best interp. score" if platform == "cpu" else "best speedup"
    return (f"evaluated {p.evaluated}  failures {p.failures}  in flight {snapshot.in_flight}  "
            f"{label} {best}")


def _print_summary(report: Report) -> None:
    table = Table(title=f"run {report.run_id} — stopped: {report.stop_reason}")
    for column in ("node", "parent", "status", report.fitness_label, "change", "reason"):
        table.add_column(column)
    for row in report.rows:
        table.add_row(*row.values())
    console.print(table)
    if report.platform == "cpu":
        console.print("[dim]cpu platform: timings are Triton-interpreter timings, not speedups.[/dim]")
    counts = ", ".join(f"{k}={v}" for k, v in sorted(report.status_counts.items()))
    console.print(f"evaluated {report.evaluated} candidates ({counts})")
    console.print(f"best kernel: {report.best_path or 'none — no correct candidate'}")


def _cluster_kind(config: Config) -> ClusterKind:
    """Returns local or ray (resolving cluster=auto from what this machine has)."""
    if config.cluster.kind is not ClusterKind.auto:
        return config.cluster.kind
    import importlib.util

    import torch

    return config.cluster.resolve_kind(ray_available=importlib.util.find_spec("ray") is not None,
                                       gpu_count=torch.cuda.device_count())


def _command_line_overrides() -> list[str]:
    """Returns the overrides given on the command line (empty when not launched through Hydra's main)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


@dataclasses.dataclass(frozen=True, kw_only=True)
class Launched:
    """What one launch did: its exit code, and the run it made (None when it failed before making one)."""

    code: int
    run_id: str | None = None
    run_dir: Path | None = None
    message: str = ""


def _multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode is RunMode.MULTIRUN


def _name_sweep_point(config: Config) -> Config:
    """Returns the config with run.id `<sweep>-<job number>` for a multirun point that names no run."""
    if not _multirun() or config.run.id is not None or config.run.resume is not None:
        return config
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    run_id = f"{Path(hydra_cfg.sweep.dir).name}-{hydra_cfg.job.num}"
    return dataclasses.replace(config, run=dataclasses.replace(config.run, id=run_id))


def _search(run: Run, kind: ClusterKind) -> Outcome:
    """Runs the search locally or on Ray, showing its progress; returns the outcome."""
    config = run.config
    with Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        bar_id = bar.add_task("starting", total=config.search.max_steps or None)
        said = [-1]  # evaluations last printed as a line: logs (a Ray Job's) get no live bar

        def on_event(snapshot: Snapshot) -> None:
            bar.update(bar_id, completed=snapshot.progress.evaluated, description=_describe(snapshot, run.platform))
            if not console.is_terminal and snapshot.progress.evaluated != said[0]:
                said[0] = snapshot.progress.evaluated
                console.print(_describe(snapshot, run.platform), soft_wrap=True, markup=False, highlight=False)

        if kind is ClusterKind.ray:
            from actors.driver import run_with_ray  # Ray is imported only when asked for

            def on_wait(status: str) -> None:
                bar.update(bar_id, description=status)

            return run_with_ray(run, on_event, on_wait=on_wait)
        from kernelevolve.eval.evaluator import Evaluator
        from kernelevolve.eval.precompile_pool import with_precompile

        workdir = run.run_dir / "eval"  # the judge's and the compile workers': one Triton cache
        judge = with_precompile(Evaluator(run.task, platform=run.platform, config=config.eval, workdir=workdir),
                                run.task, platform=run.platform, config=config.eval, workdir=workdir)
        try:
            return run_search(run, judge, on_event)
        finally:
            judge.close()


def _hand_back(run: Run, report: Report) -> int:
    """Exports the run, writes report.html and prints the summary line a sweep reads; returns the exit code."""
    code = 1
    if report.best_path is not None:
        package, choices = export_run(run.run_dir)
        chosen = sum(c.node_id is not None for c in choices)
        console.print(f"export: {package} ({chosen} of {len(choices)} shapes dispatch to a kernel, "
                      f"the rest to PyTorch; see DISPATCH.md)")
        code = 0
    console.print(f"report: {write_report(run.run_dir)}")
    console.print(SUMMARY_MARK + summarize(run.run_dir).to_json(), soft_wrap=True, markup=False, highlight=False)
    return code


def main(cfg: DictConfig) -> Launched:
    """Runs one search from a composed config; returns the exit code and the run."""
    try:
        config = _name_sweep_point(to_config(cfg))
        run = prepare_run(config, overrides=_command_line_overrides())
    except KernelEvolveError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return Launched(code=2, message=str(exc))
    handlers = _configure_logging(run)
    kind = _cluster_kind(run.config)  # on resume, the stored config with the budget overrides applied
    console.print(f"run {run.run_id} ({'resumed' if run.resumed else 'new'}): task {run.task.name}, "
                  f"platform {run.platform}, operator {run.operator.name}, cluster {kind}, dir {run.run_dir}")
    try:
        outcome = _search(run, kind)
    except KernelEvolveError as exc:  # e.g. a fleet the cluster can never hold: one line, not a traceback
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        return Launched(code=2, run_id=run.run_id, run_dir=run.run_dir, message=str(exc))
    finally:
        run.archive.close()
        for handler in handlers:  # a multirun's next point logs to its own run.log only
            for name in LOGGERS:
                logging.getLogger(name).removeHandler(handler)
            handler.close()
    report = build_report(outcome, run_id=run.run_id, run_dir=run.run_dir, platform=run.platform)
    _print_summary(report)
    code = _hand_back(run, report)
    return Launched(code=code, run_id=run.run_id, run_dir=run.run_dir,
                    message="" if code == 0 else "no correct candidate")


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> Launched | None:
    launched = main(cfg)
    if _multirun():
        return launched  # the sweep page (kernelevolve/sweep/callback.py) lists it; the next point runs
    if launched.code:
        sys.exit(launched.code)
    return None


if __name__ == "__main__":
    register_configs()
    _hydra_main()
