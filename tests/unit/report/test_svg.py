"""report/svg.py and report/tree.py: axes cover the data, bars scale as asked, the tree lays out parents over children."""

from __future__ import annotations

import re

from kernelevolve.report.data import NodeView
from kernelevolve.report.svg import Bar, BarGroup, Dot, Series, bar_chart, fmt, line_chart, nice_ticks
from kernelevolve.report.tree import layout


def test_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0, 9.3) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(0, 0.0071)[-1] >= 0.0071 and len(nice_ticks(0, 0.0071)) <= 7
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0], "an empty range still gets an axis"
    assert (fmt(0.00712), fmt(12345), fmt(2.5e6)) == ("0.00712", "12.3k", "2.5M")


def test_a_line_chart_draws_every_dot_inside_its_plot_area():
    dots = [Dot(x=float(i), y=i * 0.5, colour="#000", title=f"d{i}") for i in range(1, 6)]
    chart = line_chart(plot_id="p", series=[Series(name="s", colour="#111", points=[(1, 0.5), (5, 2.5)], step=True)],
                       dots=dots, x_label="x", y_label="y", width=400, height=200)
    xs = [float(x) for x in re.findall(r'<circle class="mark" cx="([\d.]+)"', chart)]
    ys = [float(y) for y in re.findall(r'cy="([\d.]+)"', chart)]
    assert len(xs) == 5 and xs == sorted(xs) and all(64 <= x <= 384 for x in xs)
    assert ys == sorted(ys, reverse=True), "larger values are drawn higher"
    assert chart.count("<polyline") == 1 and "<title>d3</title>" in chart


def test_an_empty_chart_says_why_and_has_no_marks():
    chart = line_chart(plot_id="p", series=[], x_label="x", y_label="y")
    assert "nothing recorded yet" in chart and 'class="mark"' not in chart


def test_bars_scale_per_group_or_together():
    groups = [BarGroup(title="a", bars=[Bar(label="x", value=1.0, colour="#000", text="1"),
                                        Bar(label="y", value=None, colour="#000", text="not measured")]),
              BarGroup(title="b", bars=[Bar(label="z", value=100.0, colour="#000", text="100")])]
    widths = lambda chart: [float(w) for w in re.findall(r'<rect class="mark" x="\d+" y="[\d.]+" width="([\d.]+)"', chart)]  # noqa: E731
    assert widths(bar_chart(plot_id="p", groups=groups, per_group_scale=True)) == [300.0, 300.0]
    assert widths(bar_chart(plot_id="p", groups=groups, per_group_scale=False)) == [3.0, 300.0]
    assert "not measured" in bar_chart(plot_id="p", groups=groups, per_group_scale=True)


def _n(i: int, parent: int | None) -> NodeView:
    return NodeView(id=i, parent_id=parent, state="evaluated", status="ok", score=1.0, note="", origin="t", reason=None,
                    created_at=0.0, evaluated_at=0.0, metrics={}, timings=[])


def test_the_tree_puts_leaves_side_by_side_and_each_parent_over_its_children():
    pos = layout([_n(0, None), _n(1, 0), _n(2, 0), _n(3, 1), _n(4, 1), _n(5, None)])
    assert [pos[i][1] for i in range(6)] == [0, 1, 1, 2, 2, 0], "depths"
    assert (pos[3][0], pos[4][0], pos[2][0], pos[5][0]) == (0, 1, 2, 3), "leaves in order"
    assert pos[1][0] == 0.5 and pos[0][0] == (0.5 + 2) / 2


def test_a_deep_lineage_lays_out_without_recursion():
    chain = [_n(0, None), *(_n(i, i - 1) for i in range(1, 5000))]
    assert layout(chain)[4999] == (0, 4999)
