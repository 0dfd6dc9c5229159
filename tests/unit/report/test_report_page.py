"""report/page.py: report.html is self-contained and shows every section from the store's numbers."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from kernelevolve.report.data import load_run
from kernelevolve.report.page import render_page, write_report
from tests.unit.report.run_store import make_run, write_dispatch

PLOTS = ("fitness-vs-candidates", "fitness-vs-time", "tree", "shapes", "time", "llm-tokens", "llm-dollars")


def _plots(page: str) -> dict[str, ET.Element]:
    """Returns each <svg class="plot"> of the page, parsed, by its data-plot id."""
    found = re.findall(r'<svg class="plot".*?</svg>', page, flags=re.S)
    return {(e := ET.fromstring(svg)).get("data-plot"): e for svg in found}


def _marks(svg: ET.Element) -> list[ET.Element]:
    return [e for e in svg.iter() if "mark" in (e.get("class") or "").split()]


def test_every_chart_is_drawn_from_the_store(tmp_path):
    run_dir = make_run(tmp_path)
    write_dispatch(run_dir)
    page = write_report(run_dir).read_text()
    plots = _plots(page)
    assert set(PLOTS) <= set(plots), f"missing {set(PLOTS) - set(plots)}"
    assert all(_marks(plots[p]) for p in PLOTS), "no chart is empty"
    dots = [e for e in _marks(plots["fitness-vs-candidates"]) if e.tag.endswith("circle")]
    assert len(dots) == 4, "one dot per verdict"
    assert [d.get("fill") for d in dots].count("#6b6b6b") == 1, "the crashed verdict is coloured as crashed"


def test_the_tree_highlights_the_best_lineage_and_links_each_node_to_its_row(tmp_path):
    page = render_page(load_run(make_run(tmp_path)))
    tree = _plots(page)["tree"]
    circles = {int(c.get("data-node")): c for c in tree.iter() if c.tag.endswith("circle")}
    assert sorted(circles) == [0, 1, 2, 3, 4]
    assert {i for i, c in circles.items() if "lineage" in c.get("class")} == {0, 1, 3}
    assert "node 3 (ok) speedup 3" in circles[3].find("{http://www.w3.org/2000/svg}title").text
    assert len([e for e in tree.iter() if "lineage" in (e.get("class") or "") and e.tag.endswith("line")]) == 2
    for i in range(5):
        assert f"<tr id='node-{i}'" in page and f'href="#node-{i}"' in page
    assert "<b>0 → 1 → 3</b>" in page


def test_judge_phases_come_from_whatever_phase_metrics_the_verdicts_carry(tmp_path):
    page = render_page(load_run(make_run(tmp_path)))
    time_chart = ET.tostring(_plots(page)["time"], encoding="unicode")
    assert "compile: 3.5 s" in time_chart and "time: 2.0 s" in time_chart, "summed over verdicts, per phase"
    assert "device kernels busy: 0.2 s" in time_chart
    assert "LLM latency: 6.0 s (4 × mean 1.50 s)" in time_chart


def test_a_ray_runs_wait_for_its_fleet_shows_as_queueing(tmp_path):
    run_dir = make_run(tmp_path)
    assert "fleet's resources" not in render_page(load_run(run_dir)), "a local run never waited for a fleet"
    stats = {"evaluators": [], "controller": {}, "fleet": {"asked": "2 CPU, 0 GPU", "placement_wait_s": 42.0}}
    (run_dir / "objects" / "cluster_stats.json").write_text(json.dumps(stats))
    time_chart = ET.tostring(_plots(render_page(load_run(run_dir)))["time"], encoding="unicode")
    assert "waiting for the fleet's resources: 42.0 s" in time_chart


def test_llm_tokens_and_dollars_are_split_per_model(tmp_path):
    page = render_page(load_run(make_run(tmp_path)))
    rows = re.findall(r"<tr><td>(llm-[ab])</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>\d+</td><td>(\$[\d.]+)</td>", page)
    assert rows == [("llm-a", "2", "200", "100", "$0.5000"), ("llm-b", "2", "200", "100", "$0.5000")]


def test_per_shape_bars_show_the_baseline_and_the_roofline_floor_where_measured(tmp_path):
    shapes = ET.tostring(_plots(render_page(load_run(make_run(tmp_path))))["shapes"], encoding="unicode")
    assert "13.33 ms" in shapes and "40 ms" in shapes, "best kernel (40/3 ms) against torch.compile on shape large"
    assert "6.667 ms" in shapes, "roofline floor = candidate time x bandwidth share 0.5"
    assert "not measured (no device peak)" in shapes, "shape small has no roofline metric"
    assert "not timed: this run timed torch.compile only" in shapes


def test_the_best_kernel_diff_and_the_dispatch_table(tmp_path):
    run_dir = make_run(tmp_path)
    assert "Not exported yet" in render_page(load_run(run_dir))
    write_dispatch(run_dir)
    page = render_page(load_run(run_dir))
    assert "<span class='del'>-    return 1</span>" in page and "<span class='add'>+    return 3  # unrolled</span>" in page
    assert "<td>large</td><td>node 3</td><td>3.00x</td>" in page and "<td>small</td><td>PyTorch reference</td>" in page


def test_the_page_needs_no_network_and_reloads_only_when_watching(tmp_path):
    data = load_run(make_run(tmp_path))
    page = render_page(data)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "nothing is fetched"
    assert "<link" not in page and 'http-equiv="refresh"' not in page
    assert '<meta http-equiv="refresh" content="5">' in render_page(data, refresh_s=5)


def test_a_run_with_no_correct_candidate_still_gets_a_page(tmp_path):
    from kernelevolve.store.archive import Archive
    from tests.unit.report.run_store import node

    archive = Archive(tmp_path / "r0", "r0", task="conv1d", platform="cpu")
    archive.start(config={}, versions={}, host="test")
    archive.add_roots([node(0, None)])
    archive.close()
    page = render_page(load_run(tmp_path / "r0"))
    assert "No correct candidate yet" in page and "none (no correct candidate yet)" in page
    assert not _marks(_plots(page)["fitness-vs-candidates"]), "no verdict, no dot"
