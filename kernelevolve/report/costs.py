"""Where a run's time and money went: judge phases, operator and LLM latency, queueing, and LLM tokens
and dollars per model. Work overlaps (expansions and evaluations run concurrently), so the seconds
are sums over all work, compared with the run's wall clock, not slices of it."""

from __future__ import annotations

import collections
import statistics

from kernelevolve.eval import phases
from kernelevolve.report import svg
from kernelevolve.report.data import LLMCall, RunData

DEVICE_BUSY = phases.BUSY  # seconds the device ran kernels during one verdict


def phase_seconds(data: RunData) -> dict[str, float]:
    """Returns seconds per judge phase summed over every verdict that recorded `phase.*` metrics."""
    sums: dict[str, float] = collections.defaultdict(float)
    for verdict in data.verdicts:
        for name, seconds in phases.phase_seconds(verdict.metrics).items():
            sums[name] += seconds
    return dict(sums)


def queue_seconds(data: RunData) -> list[float]:
    """Returns, per judged node, how long it waited for an evaluator: proposal to verdict, less judge time."""
    return [max(0.0, n.evaluated_at - n.created_at - n.metrics["eval_seconds"]) for n in data.nodes
            if n.evaluated_at is not None and "eval_seconds" in n.metrics]


def _bar(label: str, values: list[float], colour: str) -> svg.Bar:
    total = sum(values)
    detail = f" ({len(values)} × mean {statistics.fmean(values):.2f} s)" if len(values) > 1 else ""
    return svg.Bar(label=label, value=total, colour=colour, text=f"{total:.1f} s{detail}")


def _judge_group(data: RunData) -> svg.BarGroup:
    by_phase = phase_seconds(data)
    colours = svg.SERIES_COLOURS
    bars = [svg.Bar(label=name, value=s, colour=colours[i % len(colours)], text=f"{s:.1f} s")
            for i, (name, s) in enumerate(sorted(by_phase.items(), key=lambda kv: -kv[1]))]
    if not bars:
        bars = [_bar("judge, all phases", [v.metrics["eval_seconds"] for v in data.verdicts if "eval_seconds" in v.metrics],
                     colours[0])]
    busy = [v.metrics[DEVICE_BUSY] for v in data.verdicts if DEVICE_BUSY in v.metrics]
    if busy:
        bars.append(_bar("device kernels busy", busy, "#444"))
    title = "judge, by phase" if by_phase else "judge (no phase.* metrics recorded by this judge)"
    return svg.BarGroup(title=title, bars=bars)


def time_section(data: RunData) -> str:
    """Returns the chart of where the run's seconds went."""
    expansions = [e["finished_at"] - e["started_at"] for e in data.expansions if e["finished_at"] is not None]
    latency = [c.latency_s for c in data.llm_calls if c.latency_s is not None]
    operator = svg.BarGroup(title="operator", bars=[_bar("expansions", expansions, "#3bb0c9"),
                                                    _bar("LLM latency", latency, "#8f5fbf")])
    queue_bars = [_bar("waiting for an evaluator", queue_seconds(data), "#e8a33d")]
    fleet = (data.cluster_stats or {}).get("fleet")
    if fleet is not None:  # a Ray run: how long it queued for its placement group behind other runs
        queue_bars.append(_bar("waiting for the fleet's resources", [fleet["placement_wait_s"]], "#d1495b"))
    queue = svg.BarGroup(title="queueing", bars=queue_bars)
    chart = svg.bar_chart(plot_id="time", groups=[_judge_group(data), operator, queue], per_group_scale=False)
    concurrency = data.config.get("search", {}).get("concurrency", "?")
    return (f"<h2 id='time'>Where time went</h2><p class='note'>Seconds summed over all work; with up to "
            f"{svg.esc(concurrency)} expansions in flight they overlap, so sums can exceed the wall clock "
            f"({data.wall_s:.0f} s).</p>{chart}")


def _per_model(calls: list[LLMCall]) -> dict[str, list[LLMCall]]:
    out: dict[str, list[LLMCall]] = collections.defaultdict(list)
    for call in calls:
        out[call.model].append(call)
    return dict(out)


def _cumulative(data: RunData, models: dict[str, list[LLMCall]], field: str) -> list[svg.Series]:
    series = []
    for i, (model, calls) in enumerate(sorted(models.items())):
        total, points = 0.0, [(0.0, 0.0)]
        for call in calls:
            total += float(call.tokens_in + call.tokens_out) if field == "tokens" else call.cost_usd
            points.append((call.created_at - data.created_at, total))
        series.append(svg.Series(name=model, colour=svg.SERIES_COLOURS[i % len(svg.SERIES_COLOURS)], points=points))
    return series


def llm_section(data: RunData) -> str:
    """Returns LLM calls, tokens, dollars and latency per model, and tokens and dollars over time."""
    head = "<h2 id='llm'>LLM tokens and dollars</h2>"
    models = _per_model(data.llm_calls)
    if not models:
        origins = ", ".join(sorted({n.origin for n in data.nodes})) or "none yet"
        return f"{head}<p>No LLM calls recorded (the candidates came from: {svg.esc(origins)}).</p>"
    rows = []
    for model, calls in sorted(models.items()):
        latency = [c.latency_s for c in calls if c.latency_s is not None]
        mean = f"{statistics.fmean(latency):.2f}" if latency else "-"
        rows.append(f"<tr><td>{svg.esc(model)}</td><td>{len(calls)}</td><td>{sum(c.tokens_in for c in calls)}</td>"
                    f"<td>{sum(c.tokens_out for c in calls)}</td><td>{sum(c.tokens_cached for c in calls)}</td>"
                    f"<td>${sum(c.cost_usd for c in calls):.4f}</td><td>{mean}</td></tr>")
    table = ("<table><thead><tr><th>model</th><th>calls</th><th>tokens in</th><th>tokens out</th><th>cached</th>"
             f"<th>dollars</th><th>mean latency s</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    charts = [svg.line_chart(plot_id=f"llm-{field}", series=_cumulative(data, models, field),
                             x_label="wall clock since start (s)", y_label=label)
              for field, label in (("tokens", "tokens (in + out), cumulative"), ("dollars", "dollars, cumulative"))]
    colours = {m: svg.SERIES_COLOURS[i % len(svg.SERIES_COLOURS)] for i, m in enumerate(sorted(models))}
    return f"{head}{table}<div class='charts'>{''.join(charts)}</div>{svg.legend(colours)}"
