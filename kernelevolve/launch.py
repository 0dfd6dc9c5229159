"""Entry point: `python -m kernelevolve.launch [-v] +experiment=conv1d [overrides]` (Hydra).

What a run hands back (the header, the summary table, the best kernel, the export) goes to stdout; the
progress bar, warnings and errors go to stderr. A user's mistake ends in one `error:` line on stderr with
exit code 2; `-v` adds the traceback.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Sequence

import hydra
from omegaconf import DictConfig
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kernelevolve.cli import report_error
from kernelevolve.config import ClusterKind, Config, register_configs, to_config
from kernelevolve.controller import Outcome, Snapshot
from kernelevolve.core.errors import ConfigError, KernelEvolveError
from kernelevolve.export import export_run, runs_where
from kernelevolve.overrides import check_overrides, conf_root, parse_overrides
from kernelevolve.report import Report, build_report
from kernelevolve.runner import Run, prepare_run, run_search

logger = logging.getLogger("kernelevolve")
out = Console(soft_wrap=True)  # results: stdout
err = Console(stderr=True)  # the progress bar
VERBOSE_FLAGS = ("-v", "--verbose")
USER_ERRORS = (KernelEvolveError, OSError)  # a mistake in what was asked, or the machine's state: one line


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


def _release_logging(run: Run) -> None:
    """Closes the run's log file handler (so its directory can be removed)."""
    root = logging.getLogger("kernelevolve")
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and handler.baseFilename == str((run.run_dir / "run.log").resolve()):
            root.removeHandler(handler)
            handler.close()


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
    for row in report.rows[:report.shown]:
        table.add_row(*row.values())
    out.print(table)
    if len(report.rows) > report.shown:
        out.print(f"{report.shown} of {len(report.rows)} nodes shown, best first; all of them are in "
                  f"{report.run_dir / 'report.md'}")
    if report.platform == "cpu":
        out.print("[dim]cpu platform: timings are Triton-interpreter timings, not speedups.[/dim]")
    counts = ", ".join(f"{k}={v}" for k, v in sorted(report.status_counts.items()))
    out.print(f"evaluated {report.evaluated} candidates ({counts})")
    out.print(f"best kernel: {report.best_path or 'none — no correct candidate'}")


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


def _discard_if_empty(run: Run) -> bool:
    """Removes a new run's directory when the run stored no node; returns True when it did.

    A launch that fails before its first node has nothing to resume or show: leaving its directory
    would list a run that can only fail again.
    """
    if run.resumed:
        return False
    try:
        empty = not run.archive.meta.nodes(run.run_id)
    except KernelEvolveError as exc:  # a store that cannot be read is kept, for `runs doctor`
        logger.warning("run=%s kept: its store cannot be read (%s)", run.run_id, exc)
        empty = False
    run.archive.close()
    _release_logging(run)
    if empty:
        shutil.rmtree(run.run_dir)
    return empty


def main(cfg: DictConfig, *, overrides: Sequence[str] | None = None, verbose: bool = False) -> int:
    """Runs one search from a composed config; returns the process exit code (2 for a user's mistake)."""
    try:
        run = prepare_run(to_config(cfg), overrides=_command_line_overrides() if overrides is None else overrides)
    except USER_ERRORS as exc:
        return report_error(exc, verbose=verbose)
    _configure_logging(run)
    try:
        outcome = _search(run)
    except USER_ERRORS as exc:
        removed = _discard_if_empty(run)
        return report_error(exc, verbose=verbose, note=f" (no node was stored; {run.run_dir} was removed)" if removed else "")
    except BaseException:
        _discard_if_empty(run)
        raise
    report = build_report(outcome, run_id=run.run_id, run_dir=run.run_dir, platform=run.platform)
    run.archive.close()
    _print_summary(report)
    if report.best_path is None:
        return 1
    package, choices = export_run(run.run_dir)
    chosen = sum(c.node_id is not None for c in choices)
    out.print(f"export: {package} ({chosen} of {len(choices)} shapes dispatch to a kernel, "
              f"{runs_where(run.platform)}; the rest to PyTorch; see DISPATCH.md)")
    return 0


def _search(run: Run) -> Outcome:
    """Runs the search with a progress bar on stderr; on resume the bar starts from the stored counters."""
    config = run.config  # on resume, the stored config with the budget overrides applied
    kind = _cluster_kind(config)
    out.print(f"run {run.run_id} ({'resumed' if run.resumed else 'new'}): task {run.task.name}, "
              f"platform {run.platform}, operator {run.operator.name}, cluster {kind}, dir {run.run_dir}")
    done = int(run.archive.progress().get("evaluated", 0)) if run.resumed else 0
    with Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=err, transient=False) as bar:
        start = f"resumed: {done} evaluated before" if run.resumed else "starting"
        bar_id = bar.add_task(start, total=config.search.max_steps or None, completed=done)

        def on_event(snapshot: Snapshot) -> None:
            bar.update(bar_id, completed=snapshot.progress.evaluated, description=_describe(snapshot, run.platform))

        if kind is ClusterKind.ray:
            from actors.driver import run_with_ray  # Ray is imported only when asked for

            return run_with_ray(run, on_event)
        from kernelevolve.eval.evaluator import Evaluator
        from kernelevolve.eval.precompile_pool import with_precompile

        workdir = run.run_dir / "eval"  # the judge's and the compile workers': one Triton cache
        judge = with_precompile(Evaluator(run.task, platform=run.platform, config=config.eval, workdir=workdir),
                                run.task, platform=run.platform, config=config.eval, workdir=workdir)
        try:
            return run_search(run, judge, on_event)
        finally:
            judge.close()


def _check_composition(argv: Sequence[str]) -> None:
    """Raises ConfigError with Hydra's reason in one line when the overrides do not compose (a value of the
    wrong type, an enum value that does not exist, bad override syntax); Hydra's own report is six lines.

    A multirun composes per sweep point inside Hydra, so it is left to Hydra.
    """
    if any(a in ("-m", "--multirun") for a in argv):
        return
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    overrides = [a for a in argv if not a.startswith("-") and "=" in a and not a.lstrip("+~").startswith("hydra")]
    try:
        with initialize_config_dir(config_dir=str(conf_root()), version_base="1.3"):
            compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        cause = f": {str(exc.__cause__).splitlines()[0]}" if exc.__cause__ is not None else ""
        raise ConfigError(f"{str(exc).splitlines()[0]}{cause}; `python -m kernelevolve.launch --cfg job` prints "
                          "every key with its value.") from exc


def run_cli(argv: Sequence[str]) -> int:
    """Checks the command line's overrides (one line naming the closest spelling, or why they do not compose),
    then runs Hydra's main."""
    verbose = any(a in VERBOSE_FLAGS for a in argv)
    argv = [a for a in argv if a not in VERBOSE_FLAGS]
    register_configs()
    try:
        check_overrides(parse_overrides(argv), Config)
        _check_composition(argv)
    except KernelEvolveError as exc:
        return report_error(exc, verbose=verbose)
    code = 0

    @hydra.main(config_path="../conf", config_name="config", version_base="1.3")
    def _hydra_main(cfg: DictConfig) -> None:
        nonlocal code
        code = main(cfg, verbose=verbose)

    sys.argv = [sys.argv[0], *argv]
    _hydra_main()
    return code


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:]))
