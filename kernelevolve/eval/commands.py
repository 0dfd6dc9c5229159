"""`kernelevolve eval TASK CANDIDATE`: judge one candidate file and print the verdict."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from kernelevolve.core.errors import ConfigError
from kernelevolve.core.types import EvalResult
from kernelevolve.eval import phases
from kernelevolve.eval.config import BaselineKind, EvalConfig, ShapeSetChoice
from kernelevolve.eval.platforms import PLATFORM_NAMES, resolve_platform


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `eval` subcommand."""
    parser = subparsers.add_parser("eval", help="evaluate one candidate file against one task",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("task", help="built-in task name or path to a task file")
    parser.add_argument("candidate", type=Path, help="candidate .py file defining ModelNew")
    parser.add_argument("--platform", default="auto", choices=("auto", *PLATFORM_NAMES))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--timeout", type=float, default=EvalConfig.timeout_s, help="seconds per candidate")
    parser.add_argument("--seeds", type=int, default=EvalConfig.seeds)
    parser.add_argument("--baseline", default=str(EvalConfig.baseline), choices=[str(b) for b in BaselineKind])
    parser.add_argument("--shapes", default=str(EvalConfig.shape_set), choices=[str(s) for s in ShapeSetChoice])
    parser.add_argument("--workdir", type=Path, default=None, help="worker temp dirs and caches")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluates the candidate; returns 0 when the verdict is ok, 1 otherwise, 2 on usage errors."""
    from kernelevolve.eval.evaluator import Evaluator
    from kernelevolve.tasks.loader import load_task

    if not args.candidate.is_file():
        raise ConfigError(f"{args.candidate}: no such candidate file; give the path of a .py file that defines "
                          "`class ModelNew(nn.Module)`.")
    task = load_task(args.task)
    platform = resolve_platform(args.platform)
    config = EvalConfig(timeout_s=args.timeout, seeds=args.seeds, baseline=BaselineKind(args.baseline),
                        shape_set=ShapeSetChoice(args.shapes))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kernelevolve_eval_"))
    with Evaluator(task, platform=platform, config=config, workdir=workdir) as evaluator:
        result = evaluator.evaluate(args.candidate.read_text(), candidate_id=args.candidate.stem)
        baselines = evaluator.last_baselines
    print(json.dumps(verdict_json(result, baselines=baselines)) if args.json else format_verdict(result))
    return 0 if result.ok else 1


def verdict_json(result: EvalResult, *, baselines: dict[str, Any] | None = None) -> dict[str, object]:
    """Returns the verdict as a JSON-ready dict with status, correct, speedup and reason first.

    `fitness` is always there, with `fitness_kind`: "speedup" (geomean of baseline / candidate time on a device)
    or "interpreter_time_ratio" on the cpu platform, where `speedup` is null: interpreter timings rank the
    candidates of one run and are never a speedup.

    `baselines` (shape -> the cache key, this run's interleaved baseline ms, the cached median before it and
    its drift; see baseline_cache.check_result) is empty on the cpu platform and when the cache is off.
    """
    interpreter = result.platform == "cpu"
    return {"status": str(result.status), "correct": result.ok, "speedup": None if interpreter else result.fitness,
            "reason": result.reason, "fitness": result.fitness,
            "fitness_kind": "interpreter_time_ratio" if interpreter else "speedup",
            **({"interpreter_time_ratio": result.fitness} if interpreter else {}),
            **{k: v for k, v in result.to_dict().items() if k not in ("status", "reason", "fitness")},
            "phases": phases.phase_seconds(result.metrics), "gpu_busy_s": result.metrics.get(phases.BUSY),
            "device_busy_fraction": result.metrics.get("device_busy_fraction"),
            "baselines": dict(baselines or {})}



def format_verdict(result: EvalResult) -> str:
    """Returns a short human-readable verdict."""
    lines = [f"status:   {result.status}", f"platform: {result.platform}", f"reason:   {result.reason}"]
    if result.ok:
        label = "interpreter time ratio" if result.platform == "cpu" else "speedup"
        lines.append(f"{label}: {result.fitness:.3f}")
        for t in result.timings:
            lines.append(f"  {t.shape}: candidate {t.candidate_ms:.4f} ms (iqr {t.candidate_iqr_ms:.4f}), "
                         f"baseline {t.baseline_name} {t.baseline_ms or 0:.4f} ms")
    if result.mismatch is not None:
        m = result.mismatch
        lines.append(f"mismatch: max abs {m.max_abs_err:.3g}, max rel {m.max_rel_err:.3g}, "
                     f"{m.frac_mismatched:.2%} bad, first at {m.first_bad_index}")
    if result.error:
        lines.append("error:\n" + result.error)
    seconds = ", ".join(f"{k} {v:.3f}" for k, v in phases.phase_seconds(result.metrics).items())
    lines.append(f"phases (s): {seconds}")
    if phases.BUSY in result.metrics:
        lines.append(f"gpu busy: {result.metrics[phases.BUSY]:.3f} s of device kernels in "
                     f"{result.metrics.get('eval_seconds', 0.0):.3f} s")
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.metrics.items())
                        if not k.startswith(phases.PREFIX))
    lines.append(f"metrics:  {metrics}")
    return "\n".join(lines)
