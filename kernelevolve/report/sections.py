"""The report's sections about the search: progress, the tree and its nodes, per-shape times, the best
kernel and the export. Each returns an HTML fragment built from a RunData; costs.py has where time
and money went."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from kernelevolve.core.types import ShapeTiming
from kernelevolve.report import svg
from kernelevolve.report.data import NodeView, RunData, Verdict
from kernelevolve.report.tree import LINEAGE, render_tree


def fitness_label(data: RunData) -> str:
    """Returns what fitness means on this run's platform."""
    return "interp. score" if data.interpreter else "speedup"


def best_so_far(values: Sequence[float]) -> list[float]:
    """Returns the running maximum of `values` (the best fitness after each verdict)."""
    out, best = [], 0.0
    for v in values:
        best = max(best, v)
        out.append(best)
    return out


def _dot_title(v: Verdict, label: str) -> str:
    return f"node {v.node_id}: {v.status}" + (f", {label} {v.fitness:.4g}" if v.status == "ok" else "")


def progress_section(data: RunData) -> str:
    """Returns best fitness against candidates judged and against wall clock, every verdict a dot."""
    label = fitness_label(data)
    verdicts = data.verdicts
    best = best_so_far([v.fitness for v in verdicts])
    charts = []
    for plot_id, xs, x_label in (
            ("fitness-vs-candidates", [float(i + 1) for i in range(len(verdicts))], "candidates judged"),
            ("fitness-vs-time", [v.finished_at - data.created_at for v in verdicts], "wall clock since start (s)")):
        line = svg.Series(name=f"best {label}", colour=LINEAGE, points=list(zip(xs, best, strict=True)), step=True)
        dots = [svg.Dot(x=x, y=v.fitness, colour=svg.STATUS_COLOURS.get(v.status, "#999"), title=_dot_title(v, label))
                for x, v in zip(xs, verdicts, strict=True)]
        charts.append(svg.line_chart(plot_id=plot_id, series=[line], dots=dots, x_label=x_label, y_label=label))
    seen = {v.status for v in verdicts}
    caveat = ("<p class='note'>cpu platform: the score is reference time / candidate time under Triton's "
              "interpreter; it ranks this run's candidates and is not a speedup.</p>" if data.interpreter else "")
    return (f"<h2 id='progress'>Progress</h2>{caveat}<div class='charts'>{''.join(charts)}</div>"
            f"{svg.legend({'best so far': LINEAGE, **{s: c for s, c in svg.STATUS_COLOURS.items() if s in seen}})}"
            "<p class='note'>Each dot is one verdict (failed candidates sit at 0); the line is the best so far.</p>")


def _node_row(n: NodeView, on_path: set[int]) -> str:
    status = n.status or n.state
    fitness = f"{n.score:.4g}" if status == "ok" else ""
    seconds = n.metrics.get("eval_seconds")
    cells = [str(n.id), "" if n.parent_id is None else str(n.parent_id),
             f"<span class='status' style='color:{svg.STATUS_COLOURS.get(status, '#333')}'>{svg.esc(status)}</span>",
             fitness, svg.esc(n.note), svg.esc((n.reason or "")[:160]), "" if seconds is None else f"{seconds:.1f}"]
    cls = " class='lineage'" if n.id in on_path else ""
    return f"<tr id='node-{n.id}'{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def tree_section(data: RunData) -> str:
    """Returns the search tree (the best kernel's lineage highlighted) and the table of every node."""
    label = fitness_label(data)
    on_path = set(data.lineage)
    lineage = " → ".join(str(i) for i in data.lineage) or "none (no correct candidate yet)"
    head = "".join(f"<th>{h}</th>" for h in ("node", "parent", "status", label, "change", "reason", "judge s"))
    rows = "".join(_node_row(n, on_path) for n in data.nodes)
    return (f"<h2 id='tree'>Search tree</h2><p>Lineage of the best kernel: <b>{svg.esc(lineage)}</b>. "
            "Hover a node for its change and fitness; click it for its row.</p>"
            f"<div class='scroll'>{render_tree(data.nodes, data.lineage, fitness_label=label)}</div>"
            f"{svg.legend({'best lineage': LINEAGE, **svg.STATUS_COLOURS})}"
            f"<table class='nodes sortable'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def _floor_ms(best: NodeView, shape: str, candidate_ms: float) -> float | None:
    """Returns the roofline floor of a shape: the candidate's time at the measured peak of whichever of
    bandwidth and FLOP/s binds (the larger share), or None when the judge measured neither."""
    shares = [best.metrics[k] for k in (f"bandwidth_fraction.{shape}", f"flops_fraction.{shape}") if k in best.metrics]
    return candidate_ms * max(shares) if shares else None


def baseline_label(name: str) -> str:
    """Returns a reader's name for a stored baseline name ("eager:interpreter_wall_clock" -> "eager (interpreter
    wall clock)", "compile" -> "torch.compile")."""
    kind, _, how = name.partition(":")
    kind = "torch.compile" if kind == "compile" else kind
    return f"{kind} ({how.replace('_', ' ')})" if how else kind


def _shape_group(best: NodeView, timing: ShapeTiming, baseline_kind: str, interpreter: bool) -> svg.BarGroup:
    name = baseline_label(timing.baseline_name or baseline_kind)
    floor = _floor_ms(best, timing.shape, timing.candidate_ms)
    other = "eager" if name.startswith("torch.compile") else "torch.compile"
    why = "the interpreter times eager only" if interpreter else f"this run timed {name} only (eval.baseline)"
    bars = [svg.Bar(label=f"best kernel (node {best.id})", value=timing.candidate_ms, colour=svg.SERIES_COLOURS[0],
                    text=f"{timing.candidate_ms:.4g} ms ± {timing.candidate_iqr_ms:.2g} (IQR)"),
            svg.Bar(label=name, value=timing.baseline_ms, colour=svg.SERIES_COLOURS[3],
                    text="not measured" if timing.baseline_ms is None else f"{timing.baseline_ms:.4g} ms"),
            svg.Bar(label=other, value=None, colour=svg.SERIES_COLOURS[4], text=f"not timed: {why}"),
            svg.Bar(label="roofline floor", value=floor, colour=svg.SERIES_COLOURS[2],
                    text="not measured (no device peak)" if floor is None else f"{floor:.4g} ms")]
    return svg.BarGroup(title=f"shape {timing.shape}", bars=bars)


def shapes_section(data: RunData) -> str:
    """Returns the best kernel's time per shape against its baseline and the roofline floor."""
    best = data.best
    head = "<h2 id='shapes'>Per-shape time of the best kernel</h2>"
    if best is None or not best.timings:
        return head + "<p>No correct, timed kernel yet.</p>"
    kind = str(data.config.get("eval", {}).get("baseline", "compile"))
    chart = svg.bar_chart(plot_id="shapes", groups=[_shape_group(best, t, kind, data.interpreter) for t in best.timings], per_group_scale=True)
    note = ("The roofline floor is the time at the device's measured peak bandwidth or FLOP/s, whichever binds; "
            "the interpreter measures no peak." if data.interpreter else
            "The roofline floor is the time at the device's measured peak bandwidth or FLOP/s, whichever binds.")
    return f"{head}<p class='note'>Bars are scaled per shape. {note}</p>{chart}"


def _diff_html(seed: str, best: str, best_id: int) -> str:
    lines = list(difflib.unified_diff(seed.splitlines(), best.splitlines(), "seed", f"node {best_id}", lineterm=""))
    if not lines:
        return "<p>The best kernel is its lineage's seed, unchanged.</p>"
    kinds = {"+": "add", "-": "del", "@": "hunk"}
    body = "\n".join(f"<span class='{kinds.get(line[:1], 'ctx')}'>{svg.esc(line)}</span>" for line in lines)
    return f"<pre class='code diff' data-plot='diff'>{body}</pre>"


def kernel_section(data: RunData) -> str:
    """Returns the best kernel's source, its diff against the seed of its lineage, and the dispatch table."""
    best = data.best
    out = ["<h2 id='kernel'>Best kernel</h2>"]
    if best is None or data.best_source is None or data.seed_source is None:
        out.append("<p>No correct candidate yet.</p>")
    else:
        out += [f"<p>node {best.id}: {svg.esc(best.note)}</p>",
                f"<details><summary>diff against the seed (node {data.lineage[0]})</summary>"
                f"{_diff_html(data.seed_source, data.best_source, best.id)}</details>",
                f"<details open><summary>source</summary><pre class='code'>{svg.esc(data.best_source)}</pre></details>"]
    return "".join(out) + _dispatch_html(data.dispatch)


def _dispatch_html(choices: list[dict] | None) -> str:
    head = "<h2 id='dispatch'>Export dispatch table</h2>"
    if choices is None:
        return head + "<p>Not exported yet: a run exports when it finishes (or run <code>kernelevolve export RUN</code>).</p>"
    rows = "".join(
        f"<tr><td>{svg.esc(c['shape'])}</td><td>{'node ' + str(c['node_id']) if c['node_id'] is not None else 'PyTorch reference'}"
        f"</td><td>{'-' if c['speedup'] is None else format(c['speedup'], '.2f') + 'x'}</td><td>{svg.esc(c['why'])}</td></tr>"
        for c in choices)
    return (f"{head}<table class='dispatch'><thead><tr><th>shape</th><th>runs</th><th>speedup</th><th>why</th></tr>"
            f"</thead><tbody>{rows}</tbody></table><p class='note'>Every other input signature runs the PyTorch reference.</p>")
