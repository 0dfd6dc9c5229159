"""Entry point: `python -m kernelevolve.launch +experiment=conv1d [overrides]` (Hydra)."""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kernelevolve.config import ClusterKind, Config, register_configs, to_config
from kernelevolve.controller import Snapshot
from kernelevolve.core.errors import KernelEvolveError
from kernelevolve.export import export_run
from kernelevolve.report import Report, build_report
from kernelevolve.runner import Run, prepare_run, run_search

logger = logging.getLogger("kernelevolve")
console = Console(stderr=True)


def _configure_logging(run: Run) -> None:
    root = logging.getLogger("kernelevolve")
    root.setLevel(run.config.run.log_level)
    handler = logging.FileHandler(run.run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    console_handler = logging.StreamHandler(sys.stderr)
    console_handler.setLevel(logging.WARNING)
    console_handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.addHandler(console_handler)


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


def main(cfg: DictConfig) -> int:
    """Runs one search from a composed config; returns the process exit code."""
    try:
        config = to_config(cfg)
        run = prepare_run(config, overrides=_command_line_overrides())
    except KernelEvolveError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    config = run.config  # on resume, the stored config with the budget overrides applied
    _configure_logging(run)
    kind = _cluster_kind(config)
    console.print(f"run {run.run_id} ({'resumed' if run.resumed else 'new'}): task {run.task.name}, "
                  f"platform {run.platform}, operator {run.operator.name}, cluster {kind}, dir {run.run_dir}")
    with Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        bar_id = bar.add_task("starting", total=config.search.max_steps or None)

        def on_event(snapshot: Snapshot) -> None:
            bar.update(bar_id, completed=snapshot.progress.evaluated, description=_describe(snapshot, run.platform))

        if kind is ClusterKind.ray:
            from actors.driver import run_with_ray  # Ray is imported only when asked for

            def on_wait(status: str) -> None:
                bar.update(bar_id, description=status)

            try:
                outcome = run_with_ray(run, on_event, on_wait=on_wait)
            except KernelEvolveError as exc:  # e.g. a fleet the cluster can never hold: one line, not a traceback
                console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
                return 2
        else:
            from kernelevolve.eval.evaluator import Evaluator
            from kernelevolve.eval.precompile_pool import with_precompile

            workdir = run.run_dir / "eval"  # the judge's and the compile workers': one Triton cache
            judge = with_precompile(Evaluator(run.task, platform=run.platform, config=config.eval, workdir=workdir),
                                    run.task, platform=run.platform, config=config.eval, workdir=workdir)
            try:
                outcome = run_search(run, judge, on_event)
            finally:
                judge.close()
    report = build_report(outcome, run_id=run.run_id, run_dir=run.run_dir, platform=run.platform)
    run.archive.close()
    _print_summary(report)
    if report.best_path is None:
        return 1
    package, choices = export_run(run.run_dir)
    chosen = sum(c.node_id is not None for c in choices)
    console.print(f"export: {package} ({chosen} of {len(choices)} shapes dispatch to a kernel, "
                  f"the rest to PyTorch; see DISPATCH.md)")
    return 0


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    code = main(cfg)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    register_configs()
    _hydra_main()
