"""`sweeps/<name>/index.html`, `summary.md` and `summary.json`: the points of a sweep side by side (what
each changed, how it ended, its best fitness, candidates, failures, dollars and wall time), with a link
to each run's report. Ray Job sweeps (cluster/submit_sweep.py) and local Hydra multiruns write the same page."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kernelevolve.report import svg
from kernelevolve.report.page import CSS, SORT_JS, write_atomic
from kernelevolve.sweep.summary import RunSummary


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepPoint:
    """One point of a sweep and how it ended.

    Attributes:
        name: the point's job / run name (`<sweep>-<n>`).
        overrides: the Hydra overrides that make this point.
        status: SUCCEEDED, FAILED, STOPPED (a Ray job's status; a local point is SUCCEEDED or FAILED).
        summary: the run's numbers, None when the run left none (it failed before searching).
        report: where the run's report.html is (a path on the cluster when it is not on this machine).
        message: one line saying why a point failed.
    """

    name: str
    overrides: list[str]
    status: str
    summary: RunSummary | None
    report: str | None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Returns the point as JSON-ready data."""
        return dataclasses.asdict(self)


def _key_values(overrides: Sequence[str]) -> dict[str, str]:
    return {o.split("=", 1)[0].lstrip("+~"): o.split("=", 1)[1] for o in overrides if "=" in o}


def config_differences(points: Sequence[SweepPoint]) -> list[str]:
    """Returns the override keys whose value is not the same at every point, in first-seen order."""
    seen: dict[str, set[str | None]] = {}
    per_point = [_key_values(p.overrides) for p in points]
    for values in per_point:
        for key in values:
            seen.setdefault(key, set())
    for key in seen:
        seen[key] = {values.get(key) for values in per_point}
    return [key for key, values in seen.items() if len(values) > 1]


def _link(point: SweepPoint, sweep_dir: Path) -> str:
    if point.report is None:
        return "-"
    if Path(point.report).is_file():
        href = os.path.relpath(point.report, sweep_dir)
        return f"<a href='{svg.esc(href)}'>report</a>"
    return f"on the cluster: <code>{svg.esc(point.report)}</code>"


def _row(point: SweepPoint, keys: list[str], sweep_dir: Path) -> str:
    values = _key_values(point.overrides)
    s = point.summary
    numbers = ["-"] * 7 if s is None else [f"{s.best_fitness:.4g}", "-" if s.best_node is None else str(s.best_node),
                                           str(s.candidates), str(s.failures), f"${s.dollars:.4f}", str(s.tokens),
                                           f"{s.wall_s:.0f}"]
    status = svg.esc(point.status) + (f"<div class='note'>{svg.esc(point.message)}</div>" if point.message else "")
    cells = [svg.esc(point.name), status, *(svg.esc(values.get(k, "")) for k in keys), *numbers, _link(point, sweep_dir)]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _charts(points: Sequence[SweepPoint]) -> str:
    done = [p for p in points if p.summary is not None]
    colours = {p.name: svg.SERIES_COLOURS[i % len(svg.SERIES_COLOURS)] for i, p in enumerate(done)}
    label = done[0].summary.fitness_label if done else "fitness"
    bars = svg.bar_chart(plot_id="sweep-best", per_group_scale=False, groups=[svg.BarGroup(
        title=f"best {label} per point", bars=[svg.Bar(label=p.name, value=p.summary.best_fitness, colour=colours[p.name],
                                                       text=f"{p.summary.best_fitness:.4g}") for p in done])])
    curves = svg.line_chart(plot_id="sweep-curves", x_label="candidates judged", y_label=f"best {label} so far",
                            series=[svg.Series(name=p.name, colour=colours[p.name], step=True,
                                               points=[(float(i + 1), v) for i, v in enumerate(p.summary.curve)])
                                    for p in done])
    return f"<div class='charts'>{bars}{curves}</div>{svg.legend(colours)}"


def render_sweep(name: str, points: Sequence[SweepPoint], sweep_dir: Path) -> str:
    """Returns the sweep's HTML page."""
    keys = config_differences(points)
    head = ["point", "status", *keys, "best", "best node", "candidates", "failures", "dollars", "tokens", "wall s",
            "run"]
    rows = "".join(_row(p, keys, sweep_dir) for p in points)
    ok = sum(p.status == "SUCCEEDED" for p in points)
    cpu = any(p.summary is not None and p.summary.platform == "cpu" for p in points)
    caveat = "<p class='note'>cpu platform: interpreter scores rank candidates within a run; they are not speedups.</p>"
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>kernelevolve sweep {svg.esc(name)}"
            f"</title><style>{CSS}</style></head><body><h1>Sweep {svg.esc(name)}</h1>"
            f"<p>{len(points)} point(s): {ok} succeeded, {len(points) - ok} did not. Differences: "
            f"{svg.esc(', '.join(keys) or 'none')}.</p>{caveat if cpu else ''}{_charts(points)}"
            f"<table class='sortable'><thead><tr>{''.join(f'<th>{svg.esc(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{rows}</tbody></table><p class='note'>wall s: from the run's start (time spent queueing for "
            f"resources included) to its last recorded event.</p><script>{SORT_JS}</script></body></html>")


def render_markdown(name: str, points: Sequence[SweepPoint]) -> str:
    """Returns the sweep's summary as a Markdown table."""
    keys = config_differences(points)
    head = ["point", "status", *keys, "best", "candidates", "failures", "dollars", "wall s", "report"]
    lines = [f"# Sweep {name}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in points:
        values, s = _key_values(p.overrides), p.summary
        numbers = ["-"] * 5 if s is None else [f"{s.best_fitness:.4g}", str(s.candidates), str(s.failures),
                                               f"${s.dollars:.4f}", f"{s.wall_s:.0f}"]
        status = p.status + (f": {p.message}" if p.message else "")
        lines.append("| " + " | ".join([p.name, status, *(values.get(k, "") for k in keys), *numbers, p.report or "-"])
                     + " |")
    return "\n".join(lines) + "\n"


def write_sweep(sweep_dir: Path, name: str, points: Sequence[SweepPoint]) -> Path:
    """Writes index.html, summary.md and summary.json into `sweep_dir`; returns the index's path."""
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "differences": config_differences(points), "points": [p.to_dict() for p in points]}
    write_atomic(sweep_dir / "summary.json", json.dumps(data, indent=1))
    write_atomic(sweep_dir / "summary.md", render_markdown(name, points))
    return write_atomic(sweep_dir / "index.html", render_sweep(name, points, sweep_dir))
