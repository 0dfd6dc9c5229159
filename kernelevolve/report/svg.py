"""Static inline SVG charts: line/scatter charts and bar charts, with no JavaScript and no dependency.

Why hand-written SVG: the report must open offline as one file and be drawn by the run itself on a
machine that may have nothing but the core's dependencies; an inlined plotting library (plotly is
~3.5 MB) or matplotlib (~40 MB, for a few charts) buys hover and zoom we do not need. Every mark has a
<title>, which browsers show on hover. Every chart is an <svg class="plot" data-plot=ID> whose marks
carry class="mark", so a test can tell a drawn chart from an empty one.
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Callable, Sequence

STATUS_COLOURS = {
    "ok": "#2a9d3f", "incorrect": "#e8a33d", "compile_error": "#d1495b", "runtime_error": "#8f5fbf",
    "timeout": "#8c6d46", "crashed": "#6b6b6b", "integrity_violation": "#e84fa6", "pending": "#b8c0cc",
    "expansion_failed": "#3d6fb6",
}
SERIES_COLOURS = ("#1f5fa8", "#d1495b", "#2a9d3f", "#e8a33d", "#8f5fbf", "#3bb0c9", "#8c6d46", "#e84fa6")
MARGIN = {"left": 64, "right": 16, "top": 14, "bottom": 42}
Scale = Callable[[float], float]  # data coordinate -> pixel


@dataclasses.dataclass(frozen=True, kw_only=True)
class Series:
    """A polyline (a staircase when `step`), in data coordinates."""

    name: str
    colour: str
    points: Sequence[tuple[float, float]]
    step: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Dot:
    """One point with its hover text."""

    x: float
    y: float
    colour: str
    title: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Bar:
    """One bar: a label, a value (None: nothing measured) and the text shown beside it."""

    label: str
    value: float | None
    colour: str
    text: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class BarGroup:
    """Bars drawn together under one heading (one shape, one kind of time)."""

    title: str
    bars: Sequence[Bar]


def esc(text: object) -> str:
    """Returns text escaped for HTML/SVG content and attributes."""
    return html.escape(str(text), quote=True)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Returns about `count` round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step) * step
    return [round(first + i * step, 10) for i in range(int(math.ceil((hi - first) / step)) + 1)]


def fmt(value: float) -> str:
    """Returns a short human form of a number (3 significant digits, k/M suffixes)."""
    if value == 0:
        return "0"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.3g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def _scale(lo: float, hi: float, a: float, b: float) -> Scale:
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _polyline(series: Series, sx: Scale, sy: Scale) -> str:
    pts = list(series.points)
    if series.step:
        pts = [p for i, (x, y) in enumerate(pts) for p in ([(x, pts[i - 1][1])] if i else []) + [(x, y)]]
    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
    return (f'<polyline class="mark" fill="none" stroke="{series.colour}" stroke-width="2" points="{coords}">'
            f"<title>{esc(series.name)}</title></polyline>")


def line_chart(*, plot_id: str, series: Sequence[Series], dots: Sequence[Dot] = (), x_label: str, y_label: str,
               width: int = 620, height: int = 280) -> str:
    """Returns an SVG chart of polylines and dots sharing linear axes that start at 0."""
    xs = [p[0] for s in series for p in s.points] + [d.x for d in dots]
    ys = [p[1] for s in series for p in s.points] + [d.y for d in dots]
    if not xs:
        return empty_plot(plot_id, width, "nothing recorded yet")
    x_ticks, y_ticks = nice_ticks(0.0, max(xs)), nice_ticks(0.0, max(ys) or 1.0)
    sx = _scale(0.0, x_ticks[-1], MARGIN["left"], width - MARGIN["right"])
    sy = _scale(0.0, y_ticks[-1], height - MARGIN["bottom"], MARGIN["top"])
    parts = [_axes(x_ticks, y_ticks, sx, sy, width, height, x_label, y_label)]
    parts += [_polyline(s, sx, sy) for s in series if s.points]
    parts += [f'<circle class="mark" cx="{sx(d.x):.1f}" cy="{sy(d.y):.1f}" r="3.5" fill="{d.colour}" '
              f'fill-opacity="0.85"><title>{esc(d.title)}</title></circle>' for d in dots]
    return _svg(plot_id, width, height, "".join(parts))


def _axes(x_ticks: list[float], y_ticks: list[float], sx: Scale, sy: Scale, width: int, height: int, x_label: str,
          y_label: str) -> str:
    bottom, left = height - MARGIN["bottom"], MARGIN["left"]
    out = [f'<line x1="{left}" y1="{bottom}" x2="{width - MARGIN["right"]}" y2="{bottom}" class="axis"/>',
           f'<line x1="{left}" y1="{MARGIN["top"]}" x2="{left}" y2="{bottom}" class="axis"/>']
    for t in x_ticks:
        out.append(f'<text x="{sx(t):.1f}" y="{bottom + 16}" text-anchor="middle" class="tick">{fmt(t)}</text>')
    for t in y_ticks:
        out.append(f'<line x1="{left}" y1="{sy(t):.1f}" x2="{width - MARGIN["right"]}" y2="{sy(t):.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" class="tick">{fmt(t)}</text>')
    out.append(f'<text x="{(left + width) / 2:.0f}" y="{height - 6}" text-anchor="middle" class="label">{esc(x_label)}</text>')
    out.append(f'<text transform="translate(14,{(MARGIN["top"] + bottom) / 2:.0f}) rotate(-90)" text-anchor="middle" '
               f'class="label">{esc(y_label)}</text>')
    return "".join(out)


def bar_chart(*, plot_id: str, groups: Sequence[BarGroup], per_group_scale: bool, width: int = 760) -> str:
    """Returns horizontal bars, one row per bar under each group's title.

    per_group_scale: each group's longest bar spans the width (shapes whose times differ 100x stay
    readable); otherwise one scale for all bars.
    """
    values = [b.value for g in groups for b in g.bars if b.value]
    if not values:
        return empty_plot(plot_id, width, "nothing measured")
    label_w, text_w, row_h = 210, 250, 18
    track = width - label_w - text_w
    rows, y = [], 4
    for group in groups:
        rows.append(f'<text x="0" y="{y + 12}" class="group">{esc(group.title)}</text>')
        y += row_h
        top = max((b.value or 0.0 for b in group.bars), default=0.0) if per_group_scale else max(values)
        for bar in group.bars:
            length = track * (bar.value or 0.0) / top if top else 0.0
            rows.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" class="tick">{esc(_clip(bar.label))}'
                        f'<title>{esc(bar.label)}</title></text>')
            if bar.value:
                rows.append(f'<rect class="mark" x="{label_w}" y="{y + 2}" width="{max(length, 1.0):.1f}" height="{row_h - 5}" '
                            f'fill="{bar.colour}"><title>{esc(bar.label)}: {esc(bar.text)}</title></rect>')
            rows.append(f'<text x="{label_w + length + 6:.1f}" y="{y + 12}" class="tick">{esc(bar.text)}</text>')
            y += row_h
        y += 6
    return _svg(plot_id, width, y + 4, "".join(rows))


def _clip(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _svg(plot_id: str, width: int, height: int, body: str) -> str:
    return (f'<svg class="plot" data-plot="{esc(plot_id)}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img">{body}</svg>')


def empty_plot(plot_id: str, width: int, why: str) -> str:
    """Returns a placeholder that says why there is no chart (it has no marks, so a test sees it empty)."""
    return _svg(plot_id, width, 40, f'<text x="8" y="24" class="label">{esc(why)}</text>')


def legend(colours: dict[str, str]) -> str:
    """Returns an HTML legend: one coloured swatch per name."""
    items = "".join(f'<span class="swatch" style="background:{c}"></span>{esc(n)} ' for n, c in colours.items())
    return f'<div class="legend">{items}</div>'
