"""Entry point: `python -m kernelevolve.launch [-v] +experiment=conv1d [overrides]` (Hydra).

What a run hands back (the header, the summary table, the best kernel, the export) goes to stdout; the
progress bar, warnings and errors go to stderr. A user's mistake ends in one `error:` line on stderr with
exit code 2; `-v` adds the traceback.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kernelevolve.cli import report_error, terminate_as_exit
from kernelevolve.config import ClusterKind, Config, register_configs, to_config
from kernelevolve.controller import Outcome, Snapshot
from kernelevolve.core.errors import ConfigError, KernelEvolveError
from kernelevolve.eval import fsjail
from kernelevolve.eval.sandbox import jail_layers
from kernelevolve.export import export_run, runs_where
from kernelevolve.feed import plan_feed
from kernelevolve.overrides import check_overrides, conf_root, parse_overrides
from kernelevolve.report.markdown import Report, build_report
from kernelevolve.report.page import write_report
from kernelevolve.runner import Run, prepare_run, run_search
from kernelevolve.sweep.summary import SUMMARY_MARK, summarize

logger = logging.getLogger("kernelevolve")
out = Console(soft_wrap=True)  # results: stdout
err = Console(stderr=True)  # the progress bar
VERBOSE_FLAGS = ("-v", "--verbose")
USER_ERRORS = (KernelEvolveError, OSError)  # a mistake in what was asked, or the machine's state: one line


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


def _release_logging(handlers: list[logging.Handler]) -> None:
    """Detaches and closes the run's handlers (its directory can then be removed; a multirun's next point logs
    to its own run.log only)."""
    for handler in handlers:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(handler)
        handler.close()


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


def _describe(snapshot: Snapshot, platform: str) -> str:
    p = snapshot.progress
    best = "-" if snapshot.best is None else f"{snapshot.best.score:.3f} (node {snapshot.best.id})"
    label = "best interp. score" if platform == "cpu" else "best speedup"
    limit = snapshot.bottleneck  # what limits the run (actors/feed.py on Ray, judge_pool.describe_load locally)
    return (f"evaluated {p.evaluated}  failures {p.failures}  in flight {snapshot.in_flight}  "
            f"{label} {best}" + (f"  | {limit}" if limit else ""))


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


def _discard_if_empty(run: Run, handlers: list[logging.Handler]) -> bool:
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
    _release_logging(handlers)
    if empty:
        shutil.rmtree(run.run_dir)
    return empty


def main(cfg: DictConfig, *, overrides: Sequence[str] | None = None, verbose: bool = False) -> Launched:
    """Runs one search from a composed config; returns its exit code (2 for a user's mistake) and its run."""
    try:
        config = _name_sweep_point(to_config(cfg))
        run = prepare_run(config, overrides=_command_line_overrides() if overrides is None else overrides)
    except USER_ERRORS as exc:
        return Launched(code=report_error(exc, verbose=verbose), message=str(exc))
    handlers = _configure_logging(run)
    try:
        outcome = _search(run)
    except USER_ERRORS as exc:  # e.g. a fleet the cluster can never hold: one line, not a traceback
        removed = _discard_if_empty(run, handlers)
        code = report_error(exc, verbose=verbose,
                            note=f" (no node was stored; {run.run_dir} was removed)" if removed else "")
        return Launched(code=code, run_id=None if removed else run.run_id, run_dir=None if removed else run.run_dir,
                        message=str(exc))
    except BaseException:
        _discard_if_empty(run, handlers)
        raise
    report = build_report(outcome, run_id=run.run_id, run_dir=run.run_dir, platform=run.platform)
    run.archive.close()
    _release_logging(handlers)
    _print_summary(report)
    code = _hand_back(run, report)
    return Launched(code=code, run_id=run.run_id, run_dir=run.run_dir,
                    message="" if code == 0 else "no correct candidate")


def _hand_back(run: Run, report: Report) -> int:
    """Exports the run, writes report.html and prints the summary line a sweep reads; returns the exit code."""
    code = 1
    if report.best_path is not None:
        package, choices = export_run(run.run_dir)
        chosen = sum(c.node_id is not None for c in choices)
        out.print(f"export: {package} ({chosen} of {len(choices)} shapes dispatch to a kernel, "
                  f"{runs_where(run.platform)}; the rest to PyTorch; see DISPATCH.md)")
        code = 0
    out.print(f"report: {write_report(run.run_dir)}")
    out.print(SUMMARY_MARK + summarize(run.run_dir).to_json(), soft_wrap=True, markup=False, highlight=False)
    return code


def _print_jail() -> None:
    """Prints which OS filesystem jail confines candidate processes on this machine; loudly when none does."""
    support = fsjail.probe()
    if support.layers:
        out.print(f"sandbox: {support.describe()} (this machine)", markup=False, highlight=False)
    else:
        err.print(f"[bold red]WARNING[/] sandbox: {escape(support.describe())}. See SECURITY.md.")
        jail_layers()  # the same warning in the run's log


def _search(run: Run) -> Outcome:
    """Runs the search with a progress bar on stderr; on resume the bar starts from the stored counters."""
    config = run.config  # on resume, the stored config with the budget overrides applied
    kind = _cluster_kind(config)
    out.print(f"run {run.run_id} ({'resumed' if run.resumed else 'new'}): task {run.task.name}, "
              f"platform {run.platform}, operator {run.operator.name}, cluster {kind}, dir {run.run_dir}")
    _print_jail()  # under the run's headline, which a sweep's reader takes as the first line
    done = int(run.archive.progress().get("evaluated", 0)) if run.resumed else 0
    with Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=err, transient=False) as bar:
        start = f"resumed: {done} evaluated before" if run.resumed else "starting"
        bar_id = bar.add_task(start, total=config.search.max_steps or None, completed=done)
        said = [-1]  # evaluations last printed as a line: logs (a Ray Job's) get no live bar

        def on_event(snapshot: Snapshot) -> None:
            bar.update(bar_id, completed=snapshot.progress.evaluated, description=_describe(snapshot, run.platform))
            if not err.is_terminal and snapshot.progress.evaluated != said[0]:
                said[0] = snapshot.progress.evaluated
                err.print(_describe(snapshot, run.platform), soft_wrap=True, markup=False, highlight=False)

        if kind is ClusterKind.ray:
            from actors.driver import run_with_ray  # Ray is imported only when asked for

            def on_wait(status: str) -> None:
                bar.update(bar_id, description=status)

            return run_with_ray(run, on_event, on_wait=on_wait)
        from kernelevolve.eval.config import for_host
        from kernelevolve.eval.judge_pool import describe_load, device_judge, eval_slots
        from kernelevolve.eval.platforms import get_platform
        from kernelevolve.eval.precompile_pool import with_precompile

        workdir = run.run_dir / "eval"  # the judges' and the compile workers': one Triton cache
        # auto counts: judges (one for a one-at-a-time search), compile workers
        eval_config = for_host(config.eval, platform=run.platform, concurrency=config.search.concurrency)
        if eval_config != config.eval and not get_platform(run.platform).interpreter:
            out.print(f"judges: {eval_config.judges_per_device} on the device, compile workers: "
                      f"{eval_config.precompile_workers} (eval.judges_per_device={config.eval.judges_per_device}, "
                      f"eval.precompile_workers={config.eval.precompile_workers}; -1 is auto, here "
                      f"{len(os.sched_getaffinity(0))} CPUs)", markup=False, highlight=False)
        judges = device_judge(run.task, platform=run.platform, config=eval_config, workdir=workdir)
        judge = with_precompile(judges, run.task, platform=run.platform, config=eval_config, workdir=workdir)

        def on_local_event(snapshot: Snapshot) -> None:  # the line also says what limits the run
            on_event(dataclasses.replace(snapshot, bottleneck=describe_load(judges)))

        try:
            judges.warm()  # its worker starts while the first candidates are made and compiled
            slots = eval_slots(eval_config, platform=run.platform, concurrency=config.search.concurrency)
            return run_search(run, judge, on_local_event, eval_slots=slots,
                              concurrency=_local_in_flight(config, slots))
        finally:
            judge.close()


def _local_in_flight(config: Config, slots: int) -> int:
    """Returns the expansions + evaluations a local search keeps in flight: search.concurrency, raised like a Ray
    run's (kernelevolve/feed.py plan_feed) so that every evaluation slot (a judge, or a compile worker ahead of
    the judges) has cluster.expansions_per_slot candidates behind it; said when raised. 1 stays 1 (a run's
    order of events reproducible).

    On the H100 the conv1d search judged 34-48 verdicts a minute with 8 in flight and 2 judges + 6 compile
    workers, and 53-70 with 16: a candidate's kernels take 5-18 s to compile and its verdict ~1 s, so fewer in
    flight leaves judges waiting for compiles (benchmarks/RESULTS.md)."""
    configured = config.search.concurrency
    if configured <= 1:
        return configured
    plan = plan_feed(eval_slots=slots, concurrency=configured, expanders=1, expander_concurrency=1,
                     expansions_per_slot=config.cluster.expansions_per_slot)
    if plan.concurrency > configured:
        out.print(f"in flight: {plan.concurrency} (search.concurrency={configured} raised so each of {slots} "
                  f"evaluation slots has cluster.expansions_per_slot={config.cluster.expansions_per_slot:g} "
                  f"candidates behind it; 0 keeps search.concurrency)", markup=False, highlight=False)
    return plan.concurrency


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
    def _hydra_main(cfg: DictConfig) -> Launched | None:
        nonlocal code
        launched = main(cfg, verbose=verbose)
        if _multirun():
            return launched  # the sweep page (kernelevolve/sweep/callback.py) lists it; the next point runs
        code = launched.code
        return None

    sys.argv = [sys.argv[0], *argv]
    with terminate_as_exit("the search and its judge processes"):
        _hydra_main()
    return code


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:]))
