"""report.html and the sweep page of real CPU runs, opened in headless Chromium with the network cut
off: no console error, nothing fetched, every chart present, drawn and laid out; screenshots are saved
under test-artifacts/browser/ (KE_TEST_ARTIFACTS overrides)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.chromium import find_chromium, open_page, save

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("KE_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
REPORT_PLOTS = ["fitness-vs-candidates", "fitness-vs-time", "tree", "shapes", "time"]
SWEEP_PLOTS = ["sweep-best", "sweep-curves"]

# Returns, for every <svg class="plot">, its id, its count of drawn marks and its laid-out size.
PROBE = """JSON.stringify(Array.from(document.querySelectorAll('svg.plot')).map(function (svg) {
  var box = svg.getBoundingClientRect();
  return {plot: svg.dataset.plot, marks: svg.querySelectorAll('.mark').length, width: box.width, height: box.height};
}))"""


@pytest.fixture(scope="module")
def chromium():
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium; `make test` installs it when run as root)")
    return binary


@pytest.fixture(scope="module")
def multirun(tmp_path_factory):
    """A local 2-point Hydra multirun on CPU: two runs with their reports, and the sweep page."""
    tmp = tmp_path_factory.mktemp("multirun")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "kernelevolve.launch", "-m", "+experiment=conv1d", "platform=cpu",
                           "search.max_steps=2", "search.stall=0", "search=greedy,mcts", f"store.root={tmp / 'runs'}",
                           "eval.seeds=1", "eval.interpreter_reps=1", "eval.spare_worker=false",  # least judge work
                           f"hydra.sweep.dir={tmp / 'sweeps' / 'bt'}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp


def _check(chromium: str, page: Path, plots: list[str], artifact: str) -> None:
    visit = open_page(chromium, page.as_uri(), PROBE)
    shot = save(ARTIFACTS / artifact, visit.screenshot)
    assert visit.errors == [], f"console errors: {visit.errors}"
    assert all(url.startswith(("file:", "data:", "about:")) for url in visit.requests), visit.requests
    found = {p["plot"]: p for p in visit.probe}
    missing = [p for p in plots if p not in found]
    assert not missing, f"plots missing from {page.name}: {missing}"
    empty = [p for p in plots if found[p]["marks"] == 0 or found[p]["width"] < 50 or found[p]["height"] < 30]
    assert not empty, f"plots drawn empty in {page.name}: {[found[p] for p in empty]}"
    assert shot.stat().st_size > 10_000 and visit.screenshot[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_report_opens_offline_with_every_chart_drawn(chromium, multirun):
    _check(chromium, multirun / "runs" / "bt-0" / "report.html", REPORT_PLOTS, "report.png")


def test_the_sweep_page_of_a_local_multirun_opens_with_its_charts_and_links(chromium, multirun):
    page = multirun / "sweeps" / "bt" / "index.html"
    _check(chromium, page, SWEEP_PLOTS, "sweep.png")
    html = page.read_text()
    assert "href='../../runs/bt-0/report.html'" in html and "href='../../runs/bt-1/report.html'" in html
