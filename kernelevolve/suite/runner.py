"""Runs a suite: one search per problem file, each a `python -m kernelevolve.launch` process with the
problem's budget, one after another or `jobs` at once, resumable.

Layout of the output directory:
    runs/<problem-id>/          each problem's run (store.root=runs, run.id=<problem-id>)
    problems/<problem-id>.json  its result, written when the problem is finished (the resume marker)
    summary.json, summary.md    the suite's scores and the per-problem table, rewritten after each problem
A problem with a result file is not searched again; a problem whose run was interrupted is searched anew
(its half-run directory is removed first), so a killed suite resumes by being started again.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kernelevolve.core.errors import ConfigError, KernelEvolveError, TaskError
from kernelevolve.paths import project_root
from kernelevolve.suite.scores import ProblemResult, suite_markdown, suite_scores
from kernelevolve.sweep.summary import summarize
from kernelevolve.tasks.loader import load_task, tolerance_policy

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SuiteConfig:
    """How each problem is searched.

    Attributes:
        out: the suite's output directory.
        max_steps: candidates judged per problem (search.max_steps).
        max_wall_s: wall-clock budget per problem's search, seconds (search.max_wall_s; 0 = none).
        max_dollars: LLM budget per problem, US dollars (search.max_dollars; 0 = none).
        overrides: further launch overrides applied to every problem (platform=cuda, llm=openai, ...).
        other_baseline: also time each best kernel against the baseline the search did not use (GPU only), so
            every problem has a speedup vs eager and vs torch.compile.
        jobs: problems searched at once, each its own launch process. On one GPU they share the device (and
            its timings); with cluster=ray and a cluster address each run places its evaluators on the
            cluster's free GPUs, so the problems spread over them.
    """

    out: Path
    max_steps: int = 8
    max_wall_s: float = 0.0
    max_dollars: float = 0.0
    overrides: tuple[str, ...] = ()
    other_baseline: bool = True
    jobs: int = 1


STOP_GRACE_S = 60.0  # how long a stopped suite waits for its launches to unwind before killing them
_LIVE: set[subprocess.Popen] = set()  # the suite's child processes running now (one per problem in flight)
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()  # set once the suite is stopped: no new child starts


class SuiteStopped(KernelEvolveError):
    """The suite was stopped (SIGTERM, Ctrl-C) while a problem's search was about to start another process."""


def run_stoppable(cmd: list[str], **popen: Any) -> subprocess.CompletedProcess:
    """subprocess.run for the suite's children. When the suite is stopped (a SIGTERM's SystemExit or Ctrl-C in the
    main thread, stop_children) every running child gets a SIGTERM first, so a launch unwinds and kills its judge
    processes (subprocess.run would SIGKILL it at once and leave them running), and SIGKILL after STOP_GRACE_S;
    none starts afterwards."""
    if _STOPPING.is_set():
        raise SuiteStopped("the suite is stopping")
    with subprocess.Popen(cmd, **popen) as proc:
        with _LIVE_LOCK:
            _LIVE.add(proc)
        try:
            out, err = proc.communicate()
        except BaseException:
            _stop([proc])
            raise
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def stop_children() -> None:
    """Stops every running child of the suite (SIGTERM, then SIGKILL after STOP_GRACE_S) and starts no other."""
    _STOPPING.set()
    with _LIVE_LOCK:
        live = list(_LIVE)
    _stop(live)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()


def find_problems(paths: Sequence[Path]) -> list[tuple[str, Path]]:
    """Returns (problem id, file) for each .py file given or found under a given directory, sorted, ids unique."""
    found: list[tuple[str, Path]] = []
    for given in paths:
        if given.is_dir():
            files = sorted(p for p in given.rglob("*.py") if not p.name.startswith("_"))
            found += [(str(p.relative_to(given).with_suffix("")), p) for p in files]
        elif given.is_file() and given.suffix == ".py":
            found.append((given.stem, given))
        else:
            raise ConfigError(f"{given}: not a .py task file nor a directory of them; give KernelBench-format files.")
    ids = [problem for problem, _ in found]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"problem ids {duplicates} appear twice; give the files under one directory instead.")
    if not found:
        raise ConfigError(f"no .py task files in {[str(p) for p in paths]}.")
    return [(problem.replace(os.sep, "-"), path.resolve()) for problem, path in found]


def run_suite(problems: Sequence[tuple[str, Path]], config: SuiteConfig,
              on_result: Callable[[ProblemResult, bool], None] | None = None) -> list[ProblemResult]:
    """Searches every problem not already finished, config.jobs at a time; returns all results in problem order
    (finished ones read back). Each result file and the summary are written as soon as a problem finishes."""
    (config.out / "problems").mkdir(parents=True, exist_ok=True)
    results: dict[str, ProblemResult] = {}
    todo = []
    for problem, path in problems:
        done = config.out / "problems" / f"{problem}.json"
        if not done.is_file():
            todo.append((problem, path))
            continue
        results[problem] = ProblemResult.from_json(done.read_text())
        if on_result is not None:
            on_result(results[problem], True)
    order = [problem for problem, _ in problems]
    write_summary([results[p] for p in order if p in results], config)
    _STOPPING.clear()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, config.jobs)) as pool:
        searches = {pool.submit(_search, problem, path, config): problem for problem, path in todo}
        try:
            for search in concurrent.futures.as_completed(searches):
                result = search.result()
                (config.out / "problems" / f"{result.problem}.json").write_text(result.to_json())
                results[result.problem] = result
                write_summary([results[p] for p in order if p in results], config)
                if on_result is not None:
                    on_result(result, False)
        except BaseException:  # SIGTERM's SystemExit, Ctrl-C: the launches unwind (their judges die), none starts
            pool.shutdown(wait=False, cancel_futures=True)
            stop_children()
            raise
    return [results[p] for p in order]


def write_summary(results: Sequence[ProblemResult], config: SuiteConfig) -> None:
    """Writes summary.json and summary.md for the results so far."""
    scores = suite_scores(results)
    wall = f"{config.max_wall_s:g} s" if config.max_wall_s else "no limit"
    dollars = f"${config.max_dollars:g}" if config.max_dollars else "no limit"
    budget = (f"Budget per problem: {config.max_steps} steps, wall clock {wall}, LLM dollars {dollars}; "
              f"overrides: {' '.join(config.overrides) or 'none'}.")
    (config.out / "summary.json").write_text(json.dumps({"scores": scores, "budget": budget,
                                                          "problems": [dataclasses.asdict(r) for r in results]},
                                                         indent=1))
    (config.out / "summary.md").write_text(suite_markdown(results, scores, budget))


def _search(problem: str, path: Path, config: SuiteConfig) -> ProblemResult:
    runs = config.out / "runs"
    run_dir = runs / problem
    if run_dir.exists():  # an interrupted earlier attempt: its result file was never written
        shutil.rmtree(run_dir)
    overrides = [f"task.path={path}", f"store.root={runs}", f"run.id={problem}", f"search.max_steps={config.max_steps}",
                 f"search.max_wall_s={config.max_wall_s}", f"search.max_dollars={config.max_dollars}",
                 *config.overrides]
    tolerance = _tolerance(path)
    start = time.monotonic()
    logger.info("suite problem=%s searching (%s)", problem, " ".join(overrides))
    log = config.out / "problems" / f"{problem}.log"
    with log.open("w") as sink:  # written as the launch runs: a suite stopped mid-problem keeps the log so far
        proc = run_stoppable([sys.executable, "-m", "kernelevolve.launch", *overrides], cwd=project_root(),
                             stdout=sink, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - start
    output = log.read_text(errors="replace")
    if not (run_dir / "meta.db").is_file():
        return ProblemResult(problem=problem, path=str(path), run_id=None, seed_origin=None, correct=False,
                             reason=_error_lines(output) or f"launch exited {proc.returncode}",
                             speedup={"eager": None, "compile": None}, evaluated=0, wall_s=wall,
                             tolerance=tolerance)
    summary = summarize(run_dir)
    origin, root_reason = _root(run_dir, problem)
    correct = proc.returncode == 0 and summary.best_node is not None
    speedup, notes = _speedups(problem, path, run_dir, summary.best_fitness, summary.fitness_label, config) \
        if correct else ({"eager": None, "compile": None}, "")
    reason = "" if correct else (_error_lines(output) or f"no correct candidate in {summary.candidates}; "
                                                               f"root: {root_reason}")
    return ProblemResult(problem=problem, path=str(path), run_id=problem, seed_origin=origin, correct=correct,
                         reason=reason, speedup=speedup, evaluated=summary.candidates, wall_s=wall,
                         tolerance=tolerance, notes=notes)


def _tolerance(path: Path) -> str:
    """Returns which default tolerance judges the problem (loader.tolerance_policy), or "" when it cannot load."""
    try:
        return tolerance_policy(load_task(str(path)))
    except TaskError as exc:  # the launch reports the same error as the problem's reason
        logger.warning("suite: %s", exc)
        return ""


def _root(run_dir: Path, run_id: str) -> tuple[str | None, str]:
    """Returns the root node's origin and its verdict (status: reason)."""
    db = sqlite3.connect(f"file:{run_dir / 'meta.db'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT origin, status, reason FROM nodes WHERE run_id = ? AND parent_id IS NULL "
                         "ORDER BY id LIMIT 1", (run_id,)).fetchone()
    finally:
        db.close()
    return (None, "no root") if row is None else (row[0], f"{row[1]}: {row[2] or ''}".strip())


def _speedups(problem: str, path: Path, run_dir: Path, fitness: float, label: str,
              config: SuiteConfig) -> tuple[dict[str, float | None], str]:
    """Returns the best kernel's speedup vs eager and vs torch.compile (None on the interpreter), and why the one
    against the other baseline is missing when its timing failed ("" otherwise); that timing's output is kept in
    problems/<problem>.<baseline>.log."""
    if label != "speedup":
        return {"eager": None, "compile": None}, ""
    used = "eager" if "eval.baseline=eager" in config.overrides else "compile"
    other = "compile" if used == "eager" else "eager"
    result: dict[str, float | None] = {used: fitness, other: None}
    best = run_dir / "best_kernel.py"
    if not (config.other_baseline and best.is_file()):
        return result, ""
    proc = run_stoppable([sys.executable, "-m", "kernelevolve.cli", "eval", str(path), str(best), "--baseline",
                          other, "--json"], cwd=project_root(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    (config.out / "problems" / f"{problem}.{other}.log").write_text(proc.stdout + proc.stderr)
    try:
        verdict = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = " / ".join(proc.stderr.strip().splitlines()[-3:])
        return result, f"timing vs {other} failed (exit {proc.returncode}): {tail}"[:500]
    result[other] = verdict.get("speedup") if verdict.get("correct") else None
    if result[other] is not None:
        return result, ""
    return result, f"timing vs {other}: {verdict.get('status')}: {verdict.get('reason', '')}"[:500]


def _error_lines(stderr: str) -> str:
    """Returns the launch's `error:` message (with the lines that continue it), or ''."""
    lines = stderr.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("error: "):
            tail = [ln.strip() for ln in lines[index + 1:] if ln.startswith("  ")]
            return " / ".join([line.removeprefix("error: "), *tail])
    return ""
